// Package ssh is drill's only SSH client: it connects to a host (through an
// optional jump host) with the user's agent, an identity file or a password,
// checks the host key against known_hosts files, runs commands with their
// stdout, stderr and exit status, and opens streams to Unix sockets on the
// host (direct-streamlocal, how drill reaches a remote Docker engine).
package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config says how to reach one host.
type Config struct {
	Address string // host:port
	User    string
	// IdentityFile is a private key file; Passphrase decrypts it when it is
	// encrypted.
	IdentityFile string
	Passphrase   string
	// Password authenticates with a password (and keyboard-interactive).
	Password string
	// Agent uses the ssh-agent at $SSH_AUTH_SOCK.
	Agent bool
	// KnownHosts are known_hosts files (default ~/.ssh/known_hosts).
	KnownHosts []string
	// InsecureIgnoreHostKey accepts any host key: a man in the middle goes
	// unnoticed. The caller must warn.
	InsecureIgnoreHostKey bool
	// Jump is a host to connect through (ssh -J), or nil.
	Jump *Config
	// Timeout bounds the TCP connect and the handshake (default 10 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Client is a connection to one host. Safe for concurrent use: every Run
// opens its own session.
type Client struct {
	addr   string
	user   string
	conn   *gossh.Client
	jump   *Client
	log    *slog.Logger
	closed sync.Once
}

// HostKeyError is a host key that known_hosts does not vouch for.
type HostKeyError struct {
	Address string
	Files   []string
	// Mismatch is true when known_hosts holds another key for the host: a
	// reinstalled host, or a man in the middle.
	Mismatch bool
	Err      error
}

func (e *HostKeyError) Error() string {
	files := strings.Join(e.Files, ", ")
	if e.Mismatch {
		return fmt.Sprintf("the host key of %s does not match the one in %s: if the host was reinstalled, remove its line (ssh-keygen -R); otherwise someone may be intercepting the connection", e.Address, files)
	}
	host, port, _ := net.SplitHostPort(e.Address)
	return fmt.Sprintf("the host key of %s is not in %s: check it and add it (ssh-keyscan -p %s %s >> %s), or set ssh.insecure_ignore_host_key", e.Address, files, port, host, firstOr(e.Files, "~/.ssh/known_hosts"))
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// AuthError is a host that refused every way drill offered to log in.
type AuthError struct {
	User, Address string
	Methods       []string
	Err           error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("ssh %s@%s: authentication refused (offered: %s): check the user, the key or the password", e.User, e.Address, strings.Join(e.Methods, ", "))
}

func (e *AuthError) Unwrap() error { return e.Err }

// Dial connects and authenticates, within ctx and cfg.Timeout.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	auth, methods, err := authMethods(cfg)
	if err != nil {
		return nil, err
	}
	hostKey, files, err := hostKeyCallback(cfg)
	if err != nil {
		return nil, err
	}
	cc := &gossh.ClientConfig{User: cfg.User, Auth: auth, HostKeyCallback: hostKey, Timeout: cfg.Timeout}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var jump *Client
	var raw net.Conn
	if cfg.Jump != nil {
		if jump, err = Dial(ctx, *cfg.Jump); err != nil {
			return nil, fmt.Errorf("jump host %s: %w", cfg.Jump.Address, err)
		}
		raw, err = jump.conn.DialContext(ctx, "tcp", cfg.Address)
	} else {
		raw, err = (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Address)
	}
	if err != nil {
		jump.Close()
		return nil, fmt.Errorf("ssh %s: %w", cfg.Address, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		raw.SetDeadline(dl)
	}
	c, chans, reqs, err := gossh.NewClientConn(raw, cfg.Address, cc)
	if err != nil {
		raw.Close()
		jump.Close()
		return nil, classify(cfg, methods, files, err)
	}
	raw.SetDeadline(time.Time{})
	cfg.Logger.Debug("ssh connected", "address", cfg.Address, "user", cfg.User)
	return &Client{addr: cfg.Address, user: cfg.User, conn: gossh.NewClient(c, chans, reqs), jump: jump, log: cfg.Logger}, nil
}

// classify turns a handshake error into a HostKeyError or an AuthError when
// it is one.
func classify(cfg Config, methods, files []string, err error) error {
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		return &HostKeyError{Address: cfg.Address, Files: files, Mismatch: len(ke.Want) > 0, Err: err}
	}
	if strings.Contains(err.Error(), "unable to authenticate") {
		return &AuthError{User: cfg.User, Address: cfg.Address, Methods: methods, Err: err}
	}
	return fmt.Errorf("ssh %s: %w", cfg.Address, err)
}

func authMethods(cfg Config) ([]gossh.AuthMethod, []string, error) {
	var auth []gossh.AuthMethod
	var names []string
	if cfg.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, fmt.Errorf("ssh agent asked for, but SSH_AUTH_SOCK is not set: start ssh-agent or give an identity file")
		}
		auth = append(auth, gossh.PublicKeysCallback(func() ([]gossh.Signer, error) {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				return nil, fmt.Errorf("ssh agent at %s: %w", sock, err)
			}
			return agent.NewClient(conn).Signers()
		}))
		names = append(names, "agent")
	}
	if cfg.IdentityFile != "" {
		signer, err := loadKey(cfg.IdentityFile, cfg.Passphrase)
		if err != nil {
			return nil, nil, err
		}
		auth = append(auth, gossh.PublicKeys(signer))
		names = append(names, "key "+cfg.IdentityFile)
	}
	if cfg.Password != "" {
		pw := cfg.Password
		auth = append(auth, gossh.Password(pw), gossh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			answers := make([]string, len(qs))
			for i := range answers {
				answers[i] = pw
			}
			return answers, nil
		}))
		names = append(names, "password")
	}
	if len(auth) == 0 {
		return nil, nil, fmt.Errorf("no way to log in to %s: set ssh.identity_file, ssh.agent: true or ssh.password", cfg.Address)
	}
	return auth, names, nil
}

func loadKey(path, passphrase string) (gossh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	var signer gossh.Signer
	if passphrase != "" {
		signer, err = gossh.ParsePrivateKeyWithPassphrase(data, []byte(passphrase))
	} else {
		signer, err = gossh.ParsePrivateKey(data)
	}
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("identity file %s is encrypted: give its passphrase in ssh.passphrase (a secret var)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return signer, nil
}

func hostKeyCallback(cfg Config) (gossh.HostKeyCallback, []string, error) {
	if cfg.InsecureIgnoreHostKey {
		return gossh.InsecureIgnoreHostKey(), nil, nil // asked for by name; the caller warns
	}
	files := cfg.KnownHosts
	if len(files) == 0 {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil, fmt.Errorf("no known_hosts file given and no home directory: %w", err)
		}
		files = []string{filepath.Join(home, ".ssh", "known_hosts")}
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	return cb, files, nil
}

// Result is the outcome of a command that ran to its end.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Run runs cmd (a shell command line) on the host, feeding stdin when it is
// not nil, and waits for its end. A non-zero exit is not an error. When ctx
// ends first the remote command is signalled and the session closed, and
// Run returns ctx's error.
func (c *Client) Run(ctx context.Context, cmd string, stdin []byte) (Result, error) {
	s, err := c.conn.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("ssh %s: new session: %w", c.addr, err)
	}
	defer s.Close()
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	start := time.Now()
	if err := s.Start(cmd); err != nil {
		return Result{}, fmt.Errorf("ssh %s: %s: %w", c.addr, firstWord(cmd), err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Signal(gossh.SIGKILL)
		s.Close()
		// The session's copiers may still write to out and errb: return
		// neither.
		return Result{}, fmt.Errorf("ssh %s: %s: %w", c.addr, firstWord(cmd), ctx.Err())
	}
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var exit *gossh.ExitError
	switch {
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitStatus()
	case err != nil:
		return res, fmt.Errorf("ssh %s: %s: %w", c.addr, firstWord(cmd), err)
	}
	c.log.Debug("ssh run", "address", c.addr, "command", firstWord(cmd), "exit", res.ExitCode, "duration", time.Since(start))
	return res, nil
}

// DialUnix opens a stream to the Unix socket at path on the host.
func (c *Client) DialUnix(ctx context.Context, path string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		conn, err := c.conn.Dial("unix", path)
		ch <- result{conn, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("ssh %s: open %s (the server must allow stream-local forwarding): %w", c.addr, path, r.err)
		}
		return r.conn, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Address is the host:port the client is connected to.
func (c *Client) Address() string { return c.addr }

// Close closes the connection and the jump host's.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	var err error
	c.closed.Do(func() {
		err = c.conn.Close()
		if c.jump != nil {
			c.jump.Close()
		}
	})
	return err
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes every word of argv for a POSIX shell.
func Join(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

func firstWord(cmd string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(cmd), " ")
	return w
}

func firstOr(list []string, def string) string {
	if len(list) > 0 {
		return list[0]
	}
	return def
}

var _ io.Closer = (*Client)(nil)
