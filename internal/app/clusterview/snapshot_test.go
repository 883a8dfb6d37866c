package clusterview_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/clusterview"
	"github.com/drill-dev/drill/internal/app/clusterview/cvtest"
)

// bound is what a snapshot may take with per-call timeout d: two rounds of
// calls (the contract), plus slack for a loaded machine. A probe that
// ignored its timeout would hang for ever (REST) or 5 s (pg's default).
func bound(d time.Duration) time.Duration { return 2*d + time.Second }

func dsn(addr string) string {
	return "postgres://postgres:postgres@" + addr + "/postgres?connect_timeout=30"
}

func newViewer(t *testing.T, cfg clusterview.Config) *clusterview.Viewer {
	t.Helper()
	v, err := clusterview.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// timedSnapshot takes a snapshot and fails the test if it broke the bound.
func timedSnapshot(t *testing.T, v *clusterview.Viewer) clusterview.Snapshot {
	t.Helper()
	start := time.Now()
	s := v.Snapshot(t.Context())
	if took := time.Since(start); took > bound(v.Timeout()) {
		t.Fatalf("the snapshot took %s, more than its bound %s", took, bound(v.Timeout()))
	}
	return s
}

func member(t *testing.T, s clusterview.Snapshot, name string) clusterview.MemberView {
	t.Helper()
	m, ok := s.Member(name)
	if !ok {
		t.Fatalf("no member %q in the snapshot: %+v", name, s.Members)
	}
	return m
}

func wantOffline(t *testing.T, m clusterview.MemberView, reasons ...string) {
	t.Helper()
	if m.Online {
		t.Fatalf("%s is ONLINE, want OFFLINE (errors %v)", m.Name, m.Errors)
	}
	for _, r := range reasons {
		if !strings.Contains(m.Reason, r) {
			t.Errorf("%s: reason %q does not say %q", m.Name, m.Reason, r)
		}
	}
}

// startABC fakes a cluster on timeline 3: leader a, replicas b (bLag bytes
// behind) and c (in step).
func startABC(t *testing.T, bLag int64) *cvtest.Patroni {
	return cvtest.Start(t, "fileshare-cluster",
		cvtest.Member{Name: "a", Role: "leader", Timeline: 3},
		cvtest.Member{Name: "b", Role: "replica", Timeline: 3, Lag: &bLag},
		cvtest.Member{Name: "c", Role: "replica", Timeline: 3, Lag: new(int64(0))})
}

// TestSnapshotHungMember: a member whose REST API accepts and never answers
// and whose PostgreSQL port accepts and never speaks is OFFLINE, with the
// reason, within the bound; the others are reported normally.
func TestSnapshotHungMember(t *testing.T) {
	t.Parallel()
	fake := startABC(t, 2048)
	fake.Hang("b", true)
	fake.AddPromotion(2, 50331808, "2026-02-01T16:30:45.123456+00:00", "a")
	v := newViewer(t, clusterview.Config{Timeout: 400 * time.Millisecond, Members: []clusterview.Target{
		{Name: "a", API: fake.URL("a")},
		// b first in URL order would cost the cluster-wide calls a timeout
		// if they did not skip members that just failed.
		{Name: "b", API: fake.URL("b"), DSN: dsn(cvtest.SilentListener(t))},
		{Name: "c", API: fake.URL("c")},
	}, Patroni: []string{fake.URL("b")}})

	s := timedSnapshot(t, v)

	wantOffline(t, member(t, s, "b"), "REST: no answer within 400ms", "SQL: no answer within 400ms")
	for _, name := range []string{"a", "c"} {
		if m := member(t, s, name); !m.Online {
			t.Errorf("%s is OFFLINE: %s", name, m.Reason)
		}
	}
	if !s.ClusterKnown || s.Leader != "a" || s.Listed != 3 || s.Online != 2 || s.Scope != "fileshare-cluster" {
		t.Errorf("cluster: known %v leader %q listed %d online %d scope %q", s.ClusterKnown, s.Leader, s.Listed, s.Online, s.Scope)
	}
	if s.Timeline == nil || *s.Timeline != 3 {
		t.Errorf("timeline %v, want 3", s.Timeline)
	}
	if s.Config == nil || *s.Config.TTL != 30 || *s.Config.LoopWait != 10 || *s.Config.RetryTimeout != 10 || s.Config.SynchronousMode.Enabled() {
		t.Errorf("config %+v", s.Config)
	}
	if p := s.LastPromotion; p == nil || p.Leader != "a" || p.Timeline != 3 || p.Time == nil {
		t.Errorf("last promotion %+v", p)
	}
	// With no SQL to ask, a replica's lag is Patroni's, and says so.
	if l := member(t, s, "c").Lag; l == nil || l.Bytes != 0 || l.Source != clusterview.LagFromPatroni {
		t.Errorf("c's lag %+v, want 0 from patroni", l)
	}
	if l := member(t, s, "b").Lag; l == nil || l.Bytes != 2048 || l.MB != 2048.0/(1<<20) {
		t.Errorf("b's lag %+v, want 2048 bytes from GET /cluster", l)
	}
	if m := member(t, s, "a"); m.Lag != nil || m.Role != "leader" || m.State != "running" {
		t.Errorf("leader a: %+v", m)
	}
}

// TestSnapshotClusterCallHangsOnOneMember: the first member answers
// /patroni but hangs on the cluster-wide calls (as when its DCS is slow):
// each member gets its own bound, so the calls move on to the next member
// and the leader is known.
func TestSnapshotClusterCallHangsOnOneMember(t *testing.T) {
	t.Parallel()
	fake := startABC(t, 0)
	fake.HangOn("a", "/cluster", "/config", "/history")
	v := newViewer(t, clusterview.Config{Timeout: 400 * time.Millisecond, Members: []clusterview.Target{
		{Name: "a", API: fake.URL("a")},
		{Name: "b", API: fake.URL("b")},
		{Name: "c", API: fake.URL("c")},
	}})

	s := timedSnapshot(t, v)

	if !s.ClusterKnown || s.Leader != "a" || s.Listed != 3 || s.Online != 3 {
		t.Errorf("cluster: known %v leader %q listed %d online %d; errors %v", s.ClusterKnown, s.Leader, s.Listed, s.Online, s.Errors)
	}
	if s.Config == nil {
		t.Errorf("no config; errors %v", s.Errors)
	}
}

// TestSnapshotNothingAnswers: every REST API hangs and every PostgreSQL is
// silent: the snapshot still returns within the bound, knows nothing of the
// cluster and says why.
func TestSnapshotNothingAnswers(t *testing.T) {
	t.Parallel()
	fake := cvtest.Start(t, "x", cvtest.Member{Name: "a", Role: "leader"}, cvtest.Member{Name: "b", Role: "replica"})
	fake.Hang("a", true)
	fake.Hang("b", true)
	v := newViewer(t, clusterview.Config{Timeout: 300 * time.Millisecond, Members: []clusterview.Target{
		{Name: "a", API: fake.URL("a"), DSN: dsn(cvtest.SilentListener(t))},
		{Name: "b", API: fake.URL("b"), DSN: dsn(cvtest.SilentListener(t))},
	}})
	s := timedSnapshot(t, v)
	if s.ClusterKnown || s.Online != 0 || s.Errors["cluster"] == "" {
		t.Fatalf("known %v, online %d, errors %v", s.ClusterKnown, s.Online, s.Errors)
	}
	for _, name := range []string{"a", "b"} {
		wantOffline(t, member(t, s, name), "REST: no answer within 300ms", "SQL: no answer within 300ms")
	}
}

// TestSnapshotRefused: a stopped member refuses connections: OFFLINE at
// once, the reason says so; GET /cluster still lists it.
func TestSnapshotRefused(t *testing.T) {
	t.Parallel()
	fake := cvtest.Start(t, "x", cvtest.Member{Name: "a", Role: "leader"}, cvtest.Member{Name: "b", Role: "replica", State: "stopped"})
	closed := cvtest.ClosedPort(t)
	v := newViewer(t, clusterview.Config{Members: []clusterview.Target{
		{Name: "a", API: fake.URL("a")},
		{Name: "b", API: "http://" + closed, DSN: dsn(closed)},
	}})
	s := timedSnapshot(t, v)
	m := member(t, s, "b")
	wantOffline(t, m, "REST: connection refused", "SQL: connection refused")
	if !m.Listed || m.State != "stopped" || m.Errors["rest"] == "" || m.Errors["sql"] == "" {
		t.Errorf("b: %+v", m)
	}
	if !slices.Equal(m.Probed, []string{"rest", "sql"}) {
		t.Errorf("b probed %v", m.Probed)
	}
}

// containers fakes the compose project's container states and records
// which services were asked about.
type containers struct {
	states map[string]string
	mu     sync.Mutex
	asked  []string
}

func (c *containers) ContainerState(ctx context.Context, service string) (string, error) {
	c.mu.Lock()
	c.asked = append(c.asked, service)
	c.mu.Unlock()
	if st, ok := c.states[service]; ok {
		return st, nil
	}
	return "", errors.New("no container")
}

// TestSnapshotContainerState: the container's state leads the reason; it
// is asked only for members a probe failed on.
func TestSnapshotContainerState(t *testing.T) {
	t.Parallel()
	fake := cvtest.Start(t, "x", cvtest.Member{Name: "a", Role: "leader"}, cvtest.Member{Name: "b", Role: "replica"})
	fake.Hang("b", true)
	cs := &containers{states: map[string]string{"svc-a": "running", "svc-b": "paused"}}
	v := newViewer(t, clusterview.Config{Timeout: 200 * time.Millisecond, Containers: cs,
		Members: []clusterview.Target{{Name: "a", Service: "svc-a", API: fake.URL("a")}, {Name: "b", Service: "svc-b", API: fake.URL("b")}}})
	s := timedSnapshot(t, v)
	m := member(t, s, "b")
	wantOffline(t, m, "REST: no answer within 200ms")
	if !strings.HasPrefix(m.Reason, "container paused; ") || m.Container != "paused" {
		t.Errorf("b: reason %q, container %q", m.Reason, m.Container)
	}
	if a := member(t, s, "a"); !a.Online || a.Container != "" || a.Reason != "" {
		t.Errorf("a: %+v", a)
	}
	if !slices.Equal(cs.asked, []string{"svc-b"}) {
		t.Errorf("container states asked for %v, want only the failing member's", cs.asked)
	}
}

// TestSnapshotUnprobedMembers: members known only from GET /cluster are
// judged by the state it reports, and say so.
func TestSnapshotUnprobedMembers(t *testing.T) {
	t.Parallel()
	fake := cvtest.Start(t, "x", cvtest.Member{Name: "a", Role: "leader"}, cvtest.Member{Name: "b", Role: "replica", State: "starting"})
	v := newViewer(t, clusterview.Config{Patroni: []string{fake.URL("a")}})
	s := timedSnapshot(t, v)
	if a := member(t, s, "a"); !a.Online || len(a.Notes) == 0 || len(a.Probed) != 0 {
		t.Errorf("a: %+v", a)
	}
	wantOffline(t, member(t, s, "b"), "Patroni reports it starting")
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]clusterview.Config{
		"nothing":          {},
		"unnamed member":   {Members: []clusterview.Target{{API: "http://127.0.0.1:1"}}},
		"member twice":     {Members: []clusterview.Target{{Name: "a", DSN: "x"}, {Name: "a", DSN: "y"}}},
		"no way to reach":  {Members: []clusterview.Target{{Name: "a", Service: "s"}}},
		"bad patroni URL":  {Patroni: []string{"127.0.0.1:8008"}},
		"bad member's API": {Members: []clusterview.Target{{Name: "a", API: "ftp://x"}}},
	} {
		if _, err := clusterview.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
