package runner_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/steps"
)

// fakeCluster is a Patroni that answers GET /cluster, /config and /patroni
// and counts the GET /cluster it served.
type fakeCluster struct {
	mu      sync.Mutex
	leader  string
	served  int
	changed chan struct{} // closed and replaced on every /cluster served
}

func (f *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body any
	switch r.URL.Path {
	case "/cluster":
		f.mu.Lock()
		var members []map[string]any
		for _, n := range []string{"pg1", "pg2"} {
			m := map[string]any{"name": n, "role": "replica", "state": "streaming", "timeline": 1, "lag": 0}
			if n == f.leader {
				m = map[string]any{"name": n, "role": "leader", "state": "running", "timeline": 1}
			}
			members = append(members, m)
		}
		f.served++
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
		body = map[string]any{"members": members}
	case "/config":
		body = map[string]any{"ttl": 10, "loop_wait": 2, "retry_timeout": 5, "synchronous_mode": false}
	case "/patroni":
		body = map[string]any{"state": "running", "role": "master", "server_version": 150010, "patroni": map[string]any{"version": "3.0.2"}}
	default:
		http.NotFound(w, r)
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

// waitServed waits until n more GET /cluster were served after the call.
func (f *fakeCluster) waitServed(ctx context.Context, n int) error {
	f.mu.Lock()
	target := f.served + n
	f.mu.Unlock()
	for {
		f.mu.Lock()
		done, ch := f.served >= target, f.changed
		f.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

var theFake atomic.Pointer[fakeCluster]

func init() {
	steps.Register(steps.Kind{Name: "test.leader_change", Summary: "wait for a role sample, move the fake cluster's leader to pg2, then wait for two more",
		New: func() steps.Step { return &leaderChange{} }})
}

type leaderChange struct{}

func (*leaderChange) Run(ctx context.Context, env *steps.Env) error {
	f := theFake.Load()
	if err := f.waitServed(ctx, 1); err != nil { // the sampler saw pg1 lead
		return err
	}
	f.mu.Lock()
	f.leader = "pg2"
	f.mu.Unlock()
	return f.waitServed(ctx, 2)
}

// TestObserveCluster: while a scenario runs, the runner samples member
// roles from GET /cluster (a leader change lands in the journal's
// timeline), and it reads the environment fingerprint once, leaving out,
// with a reason, what Patroni's config does not set.
func TestObserveCluster(t *testing.T) {
	f := &fakeCluster{leader: "pg1", changed: make(chan struct{})}
	theFake.Store(f)
	srv := httptest.NewServer(f)
	defer srv.Close()
	yaml := `name: observe
cluster:
  compose_project: drill-observe
  patroni: [` + srv.URL + `]
steps:
  - kind: test.leader_change
`
	l, err := runner.LoadScenario("observe.yaml", []byte(yaml), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := runner.Run(context.Background(), []*runner.Loaded{l}, runner.Options{StateDir: t.TempDir()})
	s := run.Scenarios[0]
	if !s.Passed() {
		t.Fatalf("the scenario did not pass: %s %v", s.Aborted, s.Steps[0].Message)
	}
	roles := s.Timeline.Roles
	if roles == nil || roles.IntervalMS != runner.RoleInterval.Milliseconds() || roles.Source != "GET /cluster" {
		t.Fatalf("roles: %+v", roles)
	}
	var leaders []string
	for _, c := range roles.Changes {
		for _, m := range c.Members {
			if m.Role == "leader" {
				leaders = append(leaders, m.Name)
			}
		}
	}
	if strings.Join(leaders, " ") != "pg1 pg2" {
		t.Errorf("leaders in the role changes: %q, want pg1 then pg2 (%d samples)", leaders, roles.Samples)
	}
	if roles.Samples < 2 || roles.Failed != 0 {
		t.Errorf("%d samples, %d failed: want at least 2, none failed", roles.Samples, roles.Failed)
	}
	env := s.Environment
	if env == nil {
		t.Fatal("no environment in the journal")
	}
	want := map[string]string{"platform": "compose", "patroni": "3.0.2", "postgres": "15.10", "ttl": "10", "loop_wait": "2", "retry_timeout": "5", "synchronous_mode": "off"}
	for k, v := range want {
		if env.Values[k] != v {
			t.Errorf("environment %s = %q, want %q", k, env.Values[k], v)
		}
	}
	if why := env.Unread["maximum_lag_on_failover"]; !strings.Contains(why, "not set in GET /config") {
		t.Errorf("maximum_lag_on_failover: %q, want it unread because /config does not set it", why)
	}
}
