package ssh

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/ssh/sshtest"
)

func TestRunAndExitStatus(t *testing.T) {
	t.Parallel()
	c, _ := connected(t)
	res, err := c.Run(context.Background(), "cat; echo oops >&2; exit 3", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "hello" || strings.TrimSpace(string(res.Stderr)) != "oops" || res.ExitCode != 3 {
		t.Errorf("got stdout %q stderr %q exit %d, want hello, oops, 3", res.Stdout, res.Stderr, res.ExitCode)
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	keyFile, pub := sshtest.ClientKey(t)
	otherKey, _ := sshtest.ClientKey(t)
	srv := sshtest.NewServer(t, pub, "s3cret")
	good := sshtest.KnownHosts(t, srv.Addr, srv.HostKey.PublicKey())
	_, wrongPub := sshtest.ClientKey(t)
	wrong := sshtest.KnownHosts(t, srv.Addr, wrongPub)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	host, port, _ := net.SplitHostPort(srv.Addr)

	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"refused key", Config{IdentityFile: otherKey, KnownHosts: []string{good}},
			"ssh drill@" + srv.Addr + ": authentication refused (offered: key " + otherKey + "): check the user, the key or the password"},
		{"refused password", Config{Password: "nope", KnownHosts: []string{good}},
			"ssh drill@" + srv.Addr + ": authentication refused (offered: password): check the user, the key or the password"},
		{"unknown host key", Config{IdentityFile: keyFile, KnownHosts: []string{empty}},
			"the host key of " + srv.Addr + " is not in " + empty + ": check it and add it (ssh-keyscan -p " + port + " " + host + " >> " + empty + "), or set ssh.insecure_ignore_host_key"},
		{"changed host key", Config{IdentityFile: keyFile, KnownHosts: []string{wrong}},
			"the host key of " + srv.Addr + " does not match the one in " + wrong + ": if the host was reinstalled, remove its line (ssh-keygen -R); otherwise someone may be intercepting the connection"},
		{"no way to log in", Config{KnownHosts: []string{good}},
			"no way to log in to " + srv.Addr + ": set ssh.identity_file, ssh.agent: true or ssh.password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Address, tc.cfg.User = srv.Addr, "drill"
			c, err := Dial(context.Background(), tc.cfg)
			if err == nil {
				c.Close()
				t.Fatal("connected; want an error")
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
	t.Run("password accepted", func(t *testing.T) {
		t.Parallel()
		c, err := Dial(context.Background(), Config{Address: srv.Addr, User: "drill", Password: "s3cret", KnownHosts: []string{good}})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
}

// TestJumpHost reaches a host through another, as ssh -J does: the second
// server accepts the key, the first only forwards.
func TestJumpHost(t *testing.T) {
	t.Parallel()
	keyFile, pub := sshtest.ClientKey(t)
	jump := sshtest.NewServer(t, pub, "")
	target := sshtest.NewServer(t, pub, "")
	cfg := Config{Address: target.Addr, User: "drill", IdentityFile: keyFile, KnownHosts: []string{sshtest.KnownHosts(t, target.Addr, target.HostKey.PublicKey())},
		Jump: &Config{Address: jump.Addr, User: "drill", IdentityFile: keyFile, KnownHosts: []string{sshtest.KnownHosts(t, jump.Addr, jump.HostKey.PublicKey())}}}
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Run(context.Background(), "echo through", nil)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "through" {
		t.Fatalf("got %q, %v", res.Stdout, err)
	}
	if jump.Conns() != 1 || target.Conns() != 1 {
		t.Errorf("connections: jump %d, target %d; want one each", jump.Conns(), target.Conns())
	}
	// The jump host's own key is checked too.
	cfg.Jump.KnownHosts = []string{sshtest.KnownHosts(t, jump.Addr, target.HostKey.PublicKey())}
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "jump host "+jump.Addr+": the host key of "+jump.Addr+" does not match") {
		t.Errorf("a jump host with a wrong key: %v", err)
	}
}

// connected returns a client logged in to a new in-process server.
func connected(t *testing.T) (*Client, *sshtest.Server) {
	t.Helper()
	keyFile, pub := sshtest.ClientKey(t)
	srv := sshtest.NewServer(t, pub, "")
	c, err := Dial(context.Background(), Config{Address: srv.Addr, User: "drill", IdentityFile: keyFile, KnownHosts: []string{sshtest.KnownHosts(t, srv.Addr, srv.HostKey.PublicKey())}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

// A host that stops answering mid-step: the command is bounded by ctx.
func TestRunBoundedByContext(t *testing.T) {
	t.Parallel()
	c, _ := connected(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, "sleep 60", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the context's deadline", err)
	}
}

// A connection dropped during an undo: Run fails with an error, it does not
// hang.
func TestRunConnectionDropped(t *testing.T) {
	t.Parallel()
	c, srv := connected(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "echo started; sleep 60", nil)
		errc <- err
	}()
	// Wait until the command runs, then drop the host.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if srv.Conns() > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Drop()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("Run succeeded after the connection dropped")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still waiting 30 s after the connection dropped")
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"systemctl": "systemctl", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "--signal=SIGKILL": "--signal=SIGKILL", "$HOME": "'$HOME'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}
