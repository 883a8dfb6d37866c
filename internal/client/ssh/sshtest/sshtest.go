// Package sshtest is an in-process SSH server for tests: it runs exec
// requests with sh -c, forwards stream-local channels to Unix sockets,
// accepts one user key and one password, and can drop every connection at
// once, for the error paths a real sshd cannot be made to produce on demand.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Server is an in-process SSH server for the error paths a real sshd cannot
// be made to produce on demand: it runs exec requests with sh -c, accepts one
// user key and one password, and can drop every connection at once.
type Server struct {
	Addr    string
	HostKey gossh.Signer
	ln      net.Listener

	mu    sync.Mutex
	conns []net.Conn
}

func NewServer(t *testing.T, userKey gossh.PublicKey, password string) *Server {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &gossh.ServerConfig{
		PublicKeyCallback: func(_ gossh.ConnMetadata, k gossh.PublicKey) (*gossh.Permissions, error) {
			if userKey != nil && string(k.Marshal()) == string(userKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("key refused")
		},
		PasswordCallback: func(_ gossh.ConnMetadata, p []byte) (*gossh.Permissions, error) {
			if password != "" && string(p) == password {
				return nil, nil
			}
			return nil, errors.New("password refused")
		},
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), HostKey: hostKey, ln: ln}
	t.Cleanup(func() { ln.Close(); s.Drop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c, cfg)
		}
	}()
	return s
}

// Drop closes every connection, as a host that vanishes would.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *Server) serve(c net.Conn, cfg *gossh.ServerConfig) {
	_, chans, reqs, err := gossh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go gossh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() == "direct-streamlocal@openssh.com" {
			go streamLocal(nc)
			continue
		}
		if nc.ChannelType() == "direct-tcpip" {
			go directTCP(nc)
			continue
		}
		if nc.ChannelType() != "session" {
			nc.Reject(gossh.UnknownChannelType, "only sessions and stream-local forwarding")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			return
		}
		go session(ch, requests)
	}
}

// session runs one exec request and reports its exit status; closing the
// channel kills the command.
func session(ch gossh.Channel, requests <-chan *gossh.Request) {
	defer ch.Close()
	for req := range requests {
		if req.Type != "exec" {
			req.Reply(req.Type == "signal", nil)
			continue
		}
		var payload struct{ Command string }
		gossh.Unmarshal(req.Payload, &payload)
		req.Reply(true, nil)
		cmd := exec.Command("sh", "-c", payload.Command)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-closed(requests):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		}()
		cmd.Wait()
		close(done)
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, uint32(cmd.ProcessState.ExitCode()))
		ch.SendRequest("exit-status", false, status)
		return
	}
}

// closed is a channel that is closed once requests is drained: the client
// closed the session.
func closed(requests <-chan *gossh.Request) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		for range requests {
		}
		close(out)
	}()
	return out
}

// ClientKey writes a new ed25519 key to dir and returns its path and public
// key.
func ClientKey(t *testing.T) (string, gossh.PublicKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := gossh.NewSignerFromKey(priv)
	return path, signer.PublicKey()
}

// KnownHosts writes a known_hosts file holding key for addr.
func KnownHosts(t *testing.T, addr string, key gossh.PublicKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// directTCP forwards a direct-tcpip channel (what a jump host does for ssh
// -J) to the address it names.
func directTCP(nc gossh.NewChannel) {
	var req struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := gossh.Unmarshal(nc.ExtraData(), &req); err != nil {
		nc.Reject(gossh.ConnectionFailed, "bad request")
		return
	}
	pipe(nc, "tcp", net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port))))
}

// pipe dials network/addr and copies between it and the channel.
func pipe(nc gossh.NewChannel, network, addr string) {
	conn, err := net.Dial(network, addr)
	if err != nil {
		nc.Reject(gossh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		conn.Close()
		return
	}
	go gossh.DiscardRequests(reqs)
	go func() { io.Copy(ch, conn); ch.CloseWrite() }()
	io.Copy(conn, ch)
	conn.Close()
	ch.Close()
}

// streamLocal forwards a direct-streamlocal channel to the Unix socket it
// names, as OpenSSH's sshd does.
func streamLocal(nc gossh.NewChannel) {
	var req struct {
		SocketPath string
		Reserved0  string
		Reserved1  uint32
	}
	if err := gossh.Unmarshal(nc.ExtraData(), &req); err != nil {
		nc.Reject(gossh.ConnectionFailed, "bad request")
		return
	}
	pipe(nc, "unix", req.SocketPath)
}

// Conns is how many connections the server has accepted and not dropped.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
