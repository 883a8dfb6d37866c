// Package remote turns the cluster block's ssh: settings into SSH
// connections, for the platform drivers that reach their target over SSH
// (hosts, and compose with an ssh:// docker_host). It keeps one connection
// per address and user.
package remote

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/client/ssh"
)

// Pool holds the SSH connections of one platform. Safe for concurrent use.
type Pool struct {
	settings cluster.SSH
	log      *slog.Logger

	mu    sync.Mutex
	conns map[string]*ssh.Client
}

// NewPool returns a pool that logs in with settings. It warns, once per
// pool, when host keys are not checked.
func NewPool(settings cluster.SSH, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.Default()
	}
	if settings.InsecureIgnoreHostKey {
		log.Warn("ssh.insecure_ignore_host_key is set: host keys are NOT checked, a man in the middle would go unnoticed")
	}
	return &Pool{settings: settings, log: log, conns: map[string]*ssh.Client{}}
}

// Get returns the connection to address as user ("" : ssh.user, else
// root), connecting on first use. A failed connection is not kept.
func (p *Pool) Get(ctx context.Context, address, user string) (*ssh.Client, error) {
	if user == "" {
		user = p.settings.User
	}
	if user == "" {
		user = "root"
	}
	key := user + "@" + address
	p.mu.Lock()
	c, ok := p.conns[key]
	p.mu.Unlock()
	if ok {
		return c, nil
	}
	// Dial without the lock, so that a fault on several hosts connects to
	// them at once; the first connection stored wins.
	cfg, err := p.config(address, user)
	if err != nil {
		return nil, err
	}
	c, err = ssh.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if have, ok := p.conns[key]; ok {
		c.Close()
		return have, nil
	}
	p.conns[key] = c
	return c, nil
}

// Forget closes and drops a connection that failed, so that the next Get
// connects again.
func (p *Pool) Forget(c *ssh.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, have := range p.conns {
		if have == c {
			delete(p.conns, k)
		}
	}
	c.Close()
}

func (p *Pool) config(address, user string) (ssh.Config, error) {
	s := p.settings
	cfg := ssh.Config{
		Address: address, User: user, IdentityFile: s.IdentityFile, Passphrase: s.Passphrase,
		Password: s.Password, Agent: s.Agent, InsecureIgnoreHostKey: s.InsecureIgnoreHostKey,
		Timeout: s.ConnectTimeout, Logger: p.log,
	}
	if s.KnownHosts != "" {
		cfg.KnownHosts = []string{s.KnownHosts}
	}
	if s.Jump != "" {
		jumpUser, jumpAddr := SplitTarget(s.Jump, p.settings.Port)
		if jumpUser == "" {
			jumpUser = user
		}
		jump, err := p.config(jumpAddr, jumpUser)
		if err != nil {
			return ssh.Config{}, err
		}
		jump.Jump = nil
		cfg.Jump = &jump
	}
	return cfg, nil
}

// Address is host:port for a host of the block (port 0: ssh.port, else
// 22).
func (p *Pool) Address(host string, port int) string {
	if port == 0 {
		port = p.settings.Port
	}
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// SplitTarget reads [user@]host[:port] (port defaults to defPort, else 22).
func SplitTarget(s string, defPort int) (user, address string) {
	if u, rest, ok := strings.Cut(s, "@"); ok {
		user, s = u, rest
	}
	if _, _, err := net.SplitHostPort(s); err == nil {
		return user, s
	}
	if defPort == 0 {
		defPort = 22
	}
	return user, net.JoinHostPort(strings.Trim(s, "[]"), strconv.Itoa(defPort))
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.conns {
		c.Close()
		delete(p.conns, k)
	}
	return nil
}
