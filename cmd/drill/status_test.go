package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/app/clusterview"
	"github.com/drill-dev/drill/internal/app/clusterview/cvtest"
	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/golden"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// drill runs the CLI in-process and returns its exit code and output.
func drill(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	code := Main(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// clusterFile writes a cluster file naming each fake member's API.
func clusterFile(t *testing.T, fake *cvtest.Patroni, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("cluster:\n  members:\n")
	for _, n := range names {
		b.WriteString("    " + n + ":\n      api: " + fake.URL(n) + "\n")
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func threeMembers(t *testing.T) *cvtest.Patroni {
	return cvtest.Start(t, "fileshare-cluster",
		cvtest.Member{Name: "a", Role: "leader", Timeline: 1},
		cvtest.Member{Name: "b", Role: "replica", Timeline: 1, Lag: new(int64(0))},
		cvtest.Member{Name: "c", Role: "sync_standby", Timeline: 1, Lag: new(int64(3 << 20))})
}

// TestStatusJSON: --json prints the snapshot for scripts; a hung member is
// OFFLINE with its reason, and the command returns within the bound.
func TestStatusJSON(t *testing.T) {
	fake := threeMembers(t)
	fake.Hang("c", true)
	start := time.Now()
	code, out, errOut := drill(t, "status", "--json", "--discover=false", "--call-timeout", "300ms", "--cluster", clusterFile(t, fake, "a", "b", "c"))
	if took := time.Since(start); took > 2*300*time.Millisecond+time.Second {
		t.Errorf("status took %s with a hung member", took)
	}
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var s clusterview.Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if s.Leader != "a" || s.Listed != 3 || s.Online != 2 || s.Config == nil || *s.Config.TTL != 30 {
		t.Errorf("snapshot: leader %q listed %d online %d config %+v", s.Leader, s.Listed, s.Online, s.Config)
	}
	c, _ := s.Member("c")
	if c.Online || c.Reason != "REST: no answer within 300ms" || c.Role != "sync_standby" {
		t.Errorf("c: %+v", c)
	}
	if c.Lag == nil || c.Lag.Bytes != 3<<20 || c.Lag.MB != 3 || c.Lag.Source != "patroni" {
		t.Errorf("c's lag: %+v", c.Lag)
	}
	for _, key := range []string{`"members_online": 2`, `"bytes": 3145728`, `"mb": 3`, `"source": "patroni"`, `"ttl": 30`, `"synchronous_mode": false`} {
		if !strings.Contains(out, key) {
			t.Errorf("the JSON lacks %s", key)
		}
	}
}

// TestStatusText: the table on a non-terminal has no escape codes.
func TestStatusText(t *testing.T) {
	fake := threeMembers(t)
	fake.Hang("b", true)
	code, out, errOut := drill(t, "status", "--discover=false", "--call-timeout", "200ms", "--cluster", clusterFile(t, fake, "a", "b", "c"))
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"Leader a", "Members 3 listed, 2 online", "ttl 30 s   loop_wait 10 s   retry_timeout 10 s   synchronous_mode off",
		"● ONLINE", "○ OFFLINE", "sync standby", "b OFFLINE: REST: no answer within 200ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape codes on a non-terminal:\n%q", out)
	}
}

// TestStatusExitCodes: usage problems exit 2, an unreachable cluster 3,
// and neither stalls.
func TestStatusExitCodes(t *testing.T) {
	closed := "http://" + cvtest.ClosedPort(t)
	silent := "http://" + cvtest.SilentListener(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("cluster:\n  patroni: [http://127.0.0.1:1]\n  memberz: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"status", "--discover=false", "--patroni", closed}, 3, "no member of the cluster answered"},
		{[]string{"status", "--discover=false", "--call-timeout", "200ms", "--patroni", silent}, 3, "no member of the cluster answered"},
		{[]string{"status", "--discover=false"}, 2, "nothing to watch"},
		{[]string{"status", "--discover=false", "--member", "nodsn"}, 2, `--member "nodsn": write name=dsn`},
		{[]string{"status", "--scenario", "x.yaml", "--cluster", "y.yaml"}, 2, "choose one"},
		{[]string{"status", "--cluster", bad}, 2, "bad.yaml:3:3"},
		{[]string{"status", "--call-timeout", "0s"}, 2, "--call-timeout must be positive"},
		{[]string{"monitor", "--interval", "0s"}, 2, "--interval must be positive"},
		{[]string{"status", "extra"}, 2, "unknown command"},
	}
	for _, tt := range tests {
		code, _, errOut := drill(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("drill %s: exit %d, stderr %q; want exit %d saying %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.stderr)
		}
	}
}

// TestMonitorPlain: off a terminal, one block per refresh and the new
// events under it, no escape codes, and --count ends it.
func TestMonitorPlain(t *testing.T) {
	fake := threeMembers(t)
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- Main([]string{"monitor", "--discover=false", "--interval", "300ms", "--call-timeout", "200ms", "--count", "4",
			"--cluster", clusterFile(t, fake, "a", "b", "c")}, strings.NewReader(""), &out, &errOut)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "=== drill monitor"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no first block; stderr %s", errOut.String())
		}
	}
	// A failover: a stops answering, b takes the leader key on timeline 2.
	fake.Hang("a", true)
	fake.Update("a", func(m *cvtest.Member) { m.Role, m.State = "replica", "stopped" })
	fake.Update("b", func(m *cvtest.Member) { m.Role, m.Timeline, m.Lag = "leader", 2, nil })
	fake.Update("c", func(m *cvtest.Member) { m.Timeline, m.Lag = 2, new(int64(0)) })
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("monitor --count 4 did not end")
	}
	got := out.String()
	if code != 0 {
		t.Fatalf("exit %d, stderr %s\n%s", code, errOut.String(), got)
	}
	if n := strings.Count(got, "=== drill monitor"); n != 4 {
		t.Errorf("%d blocks, want 4:\n%s", n, got)
	}
	for _, want := range []string{"c lag 3145728 B (3.00 MB), at or above 1048576 B (1.00 MB) (patroni)", "a went OFFLINE: REST: no answer within 200ms",
		"leader changed a → b", "timeline changed 1 → 2", "c lag back under 1048576 B (1.00 MB): 0 B (patroni)"} {
		if strings.Count(got, want) != 1 {
			t.Errorf("want %q once in the output:\n%s", want, got)
		}
	}
	blocks := strings.Split(got, "=== drill monitor")
	if !strings.Contains(blocks[1], "no leader change seen") || !strings.Contains(blocks[len(blocks)-1], "last leader change ") {
		t.Errorf("the headers do not tell the time since the leader change:\n%s", got)
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("escape codes off a terminal:\n%q", got)
	}
}

// TestMonitorScreen drives the full-screen model: a snapshot is drawn with
// its events, and q quits.
func TestMonitorScreen(t *testing.T) {
	fake := threeMembers(t)
	v, err := clusterview.New(clusterview.Config{Members: []clusterview.Target{{Name: "a", API: fake.URL("a")}, {Name: "b", API: fake.URL("b")}}})
	if err != nil {
		t.Fatal(err)
	}
	s := &screen{monitor: &monitor{viewer: v, tracker: clusterview.NewTracker(clusterview.DiffOptions{}), interval: time.Second, styles: newStyles(false)},
		ctx: t.Context(), now: time.Now()}
	if !strings.Contains(s.View(), "taking the first snapshot") {
		t.Errorf("first view:\n%s", s.View())
	}
	msg := s.fetch()()
	if _, cmd := s.Update(msg); cmd == nil {
		t.Error("no refresh scheduled after a snapshot")
	}
	s.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	view := s.View()
	for _, want := range []string{"drill monitor", "Leader a", "Events", "c lag 3145728 B (3.00 MB), at or above", "q or Ctrl-C quits"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	// A short terminal keeps the header and the newest events.
	for i := range 30 {
		s.events = append(s.events, clusterview.Event{Time: time.Now(), Message: fmt.Sprintf("event %d", i)})
	}
	s.Update(tea.WindowSizeMsg{Width: 120, Height: 20})
	view = s.View()
	if n := strings.Count(view, "\n") + 1; n != 20 || !strings.HasPrefix(view, "drill monitor") || !strings.Contains(view, "event 29") || !strings.Contains(view, "earlier)") {
		t.Errorf("a %d-line view on a 20-line terminal:\n%s", n, view)
	}
	s.Update(tea.WindowSizeMsg{Width: 120, Height: 6})
	if n := strings.Count(s.View(), "\n") + 1; n > 6 {
		t.Errorf("a %d-line view on a 6-line terminal:\n%s", n, s.View())
	}

	_, cmd := s.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if cmd == nil || !reflect.DeepEqual(cmd(), tea.Quit()) {
		t.Error("q does not quit")
	}
	_, cmd = s.Update(tea.KeyMsg{Type: tea.KeyCtrlC})
	if cmd == nil || !reflect.DeepEqual(cmd(), tea.Quit()) {
		t.Error("Ctrl-C does not quit")
	}
}

// TestSnapshotGolden pins the text rendering of a snapshot.
func TestSnapshotGolden(t *testing.T) {
	tl := func(v int64) *int64 { return &v }
	n := func(v int) *int { return &v }
	yes, no := true, false
	s := clusterview.Snapshot{
		Time: time.Date(2026, 2, 1, 16, 30, 45, 0, time.UTC), Took: 35 * time.Millisecond,
		Scope: "fileshare-cluster", ClusterKnown: true, Leader: "postgres-standby1", Listed: 4, Online: 3, Timeline: tl(2),
		Primaries: []string{"postgres-master", "postgres-standby1"},
		Config:    &patroni.DynamicConfig{TTL: n(30), LoopWait: n(10), RetryTimeout: n(10), SynchronousMode: new(patroni.SyncOff), MaximumLagOnFailover: new(int64(1 << 20))},
		Members: []clusterview.MemberView{
			{Name: "postgres-master", Online: true, Role: "replica", State: "running", InRecovery: &no, Timeline: tl(1), TimelineSource: "sql:wal", Connections: n(5)},
			{Name: "postgres-standby1", Online: true, Role: "leader", State: "running", InRecovery: &no, Timeline: tl(2), TimelineSource: "sql:wal", Connections: n(7)},
			{Name: "postgres-standby2", Reason: "container paused; REST: no answer within 1s; SQL: no answer within 1s", Role: "sync_standby", State: "running", Timeline: tl(2), TimelineSource: "patroni_cluster",
				Lag: &clusterview.Lag{Bytes: 3 << 20, MB: 3, Source: "patroni"}, InRecovery: &yes, Notes: []string{"not probed directly"}},
			// a former leader that went on alone: ahead of the leader, not streaming
			{Name: "postgres-standby3", Online: true, Role: "replica", State: "running", InRecovery: &yes, Timeline: tl(3), TimelineSource: "sql:checkpoint", Connections: n(2), Diverged: true},
		},
		Errors:  map[string]string{"history": "patroni: no member answered GET /history (tried ...)"},
		Reasons: map[string]string{"history": "connection refused"},
	}
	got := formatSnapshot(s, newStyles(false), time.Second)
	golden.Check(t, filepath.Join("testdata", "status", "snapshot.golden"), []byte(got))
}

func TestReadClusterFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := &cluster.Cluster{ComposeProject: "p", Patroni: []string{"http://127.0.0.1:18008"},
		Members: map[string]cluster.MemberConfig{"m": {Service: "svc", DSN: "postgres://x@127.0.0.1:1/db", API: "http://127.0.0.1:2"}}}
	body := "compose_project: p\npatroni: [http://127.0.0.1:18008]\nmembers:\n  m: {service: svc, dsn: \"postgres://x@127.0.0.1:1/db\", api: \"http://127.0.0.1:2\"}\n"
	for name, content := range map[string]string{"bare.yaml": body, "wrapped.yaml": "cluster:\n" + indent(body)} {
		got, err := readClusterFile(write(name, content))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
	for name, content := range map[string]string{"list.yaml": "- a\n", "typo.yaml": "patroni: [x]\nmembres: {}\n"} {
		if _, err := readClusterFile(write(name, content)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func indent(s string) string {
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "") + "\n"
}

// TestTargets: discovered addresses fill in what the cluster block leaves
// empty, under the member the block maps to the service.
func TestTargets(t *testing.T) {
	cl := &cluster.Cluster{Members: map[string]cluster.MemberConfig{
		"node1": {Service: "pg-1", DSN: "postgres://given"},
		"node2": {API: "http://given:8008"},
	}}
	pubs := []clusterview.Published{
		{Service: "pg-1", API: "http://127.0.0.1:18008", PG: "127.0.0.1:15432"},
		{Service: "node2", API: "http://127.0.0.1:18009", PG: "127.0.0.1:15433"},
		{Service: "pg-3", PG: "[::1]:15434"},
	}
	got, err := targets(cl, pubs, "postgres://u@{host}:{port}/db")
	if err != nil {
		t.Fatal(err)
	}
	want := []clusterview.Target{
		{Name: "node1", Service: "pg-1", API: "http://127.0.0.1:18008", DSN: "postgres://given"},
		{Name: "node2", Service: "node2", API: "http://given:8008", DSN: "postgres://u@127.0.0.1:15433/db"},
		{Name: "pg-3", Service: "pg-3", DSN: "postgres://u@[::1]:15434/db"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets:\n got %+v\nwant %+v", got, want)
	}
	if _, err := targets(cl, pubs, "postgres://u@localhost/db"); err == nil {
		t.Error("a template without {host} and {port} was accepted")
	}
}
