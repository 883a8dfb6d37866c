// Package cvtest fakes what clusterview watches, for the tests of
// clusterview and of the commands built on it: a Patroni cluster's REST API
// (one httptest server per member, answering like Patroni 3.0.2, any of
// which can be made to hang like a frozen member) and a TCP listener that
// accepts connections but never speaks PostgreSQL.
package cvtest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Member is one fake member: what GET /cluster and its GET /patroni say.
type Member struct {
	Name     string
	Role     string // leader, replica, sync_standby
	State    string // running, stopped... (default running)
	Timeline int64  // 0: absent
	Lag      *int64 // GET /cluster's lag; nil: absent
}

// Patroni is a fake Patroni cluster. Its methods are safe for concurrent use
// with the requests it serves.
type Patroni struct {
	Scope string

	mu      sync.Mutex
	members []Member
	hung    map[string]bool
	// hungPaths holds "member path" for the paths a member hangs on
	hungPaths map[string]bool
	config    map[string]any
	history   []any
	servers   map[string]*httptest.Server
	quit      chan struct{}
}

// Start serves one REST API per member until the test ends. The dynamic
// configuration starts as Patroni's defaults (ttl 30, loop_wait 10,
// retry_timeout 10, synchronous_mode false) and the history empty.
func Start(t testing.TB, scope string, members ...Member) *Patroni {
	t.Helper()
	p := &Patroni{Scope: scope, hung: map[string]bool{}, hungPaths: map[string]bool{}, servers: map[string]*httptest.Server{}, quit: make(chan struct{}),
		config:  map[string]any{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 1048576, "synchronous_mode": false},
		history: []any{}}
	for _, m := range members {
		if m.State == "" {
			m.State = "running"
		}
		p.members = append(p.members, m)
		p.servers[m.Name] = httptest.NewServer(p.handler(m.Name))
	}
	t.Cleanup(func() {
		close(p.quit) // release hung requests first: Close waits for them
		for _, s := range p.servers {
			s.Close()
		}
	})
	return p
}

// URL is the REST base URL of member name.
func (p *Patroni) URL(name string) string { return p.servers[name].URL }

// Hang makes member name's API accept requests and never answer (true),
// as a paused container does, or answer again (false).
func (p *Patroni) Hang(name string, hang bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung[name] = hang
}

// HangOn makes member name's API hang on the given paths only (e.g.
// "/cluster", which Patroni answers from the DCS, while /patroni still
// answers); no paths: answer them all again.
func (p *Patroni) HangOn(name string, paths ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.hungPaths {
		if strings.HasPrefix(k, name+" ") {
			delete(p.hungPaths, k)
		}
	}
	for _, path := range paths {
		p.hungPaths[name+" "+path] = true
	}
}

// Update changes member name as fn says.
func (p *Patroni) Update(name string, fn func(*Member)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.members {
		if p.members[i].Name == name {
			fn(&p.members[i])
		}
	}
}

// SetConfig sets keys of the dynamic configuration.
func (p *Patroni) SetConfig(kv map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, v := range kv {
		p.config[k] = v
	}
}

// AddPromotion appends a line to GET /history:
// [timeline, lsn, reason, timestamp, new_leader].
func (p *Patroni) AddPromotion(timeline int64, lsn uint64, at, leader string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.history = append(p.history, []any{timeline, lsn, "no recovery target specified", at, leader})
}

func (p *Patroni) handler(self string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		hung := p.hung[self] || p.hungPaths[self+" "+r.URL.Path]
		p.mu.Unlock()
		if hung {
			select {
			case <-r.Context().Done():
			case <-p.quit:
			}
			return
		}
		body, status := p.answer(self, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
}

func (p *Patroni) answer(self, path string) (any, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch path {
	case "/patroni":
		for _, m := range p.members {
			if m.Name != self {
				continue
			}
			role := "replica"
			if m.Role == "leader" {
				role = "master" // as Patroni 3.0.2 says
			}
			out := map[string]any{"state": m.State, "role": role, "server_version": 150020,
				"patroni": map[string]any{"version": "3.0.2", "scope": p.Scope}}
			if m.Timeline > 0 {
				out["timeline"] = m.Timeline
			}
			return out, http.StatusOK
		}
	case "/cluster":
		var list []map[string]any
		for _, m := range p.members {
			e := map[string]any{"name": m.Name, "role": m.Role, "state": m.State, "api_url": "http://" + m.Name + ":8008/patroni", "host": m.Name, "port": 5432}
			if m.Timeline > 0 {
				e["timeline"] = m.Timeline
			}
			if m.Lag != nil {
				e["lag"] = *m.Lag
			}
			list = append(list, e)
		}
		return map[string]any{"members": list}, http.StatusOK
	case "/config":
		return p.config, http.StatusOK
	case "/history":
		return p.history, http.StatusOK
	}
	return map[string]any{"error": "not found"}, http.StatusNotFound
}

// SilentListener accepts TCP connections on 127.0.0.1 and never writes a
// byte, like a frozen PostgreSQL; it returns "127.0.0.1:PORT". Connections
// are held until the test ends.
func SilentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// ClosedPort returns "127.0.0.1:PORT" where nothing listens (connections
// are refused).
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
