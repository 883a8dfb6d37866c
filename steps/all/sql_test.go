package all_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/client/pg/pgtest"
	"github.com/drill-dev/drill/internal/metric"
)

// runScenario loads and runs one scenario; it fails the test when the file
// does not load.
func runScenario(t *testing.T, src string) *report.Scenario {
	t.Helper()
	l, err := runner.LoadScenario("test.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatalf("loading:\n%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := runner.Run(ctx, []*runner.Loaded{l}, runner.Options{StateDir: t.TempDir()})
	res := run.Scenarios[0]
	for _, s := range append(res.Steps, res.Cleanup...) {
		t.Logf("step %-24s %-8s %s\n%s", s.Name, s.Status, s.Message, s.Log)
	}
	for _, c := range res.Checks {
		t.Logf("check %-40s %-8s %s", c.Expr, c.Status, c.Message)
	}
	return res
}

// value returns the last value a run recorded under name (step.name for a
// step's own).
func value(t *testing.T, res *report.Scenario, name string) any {
	t.Helper()
	step, metricName, qualified := strings.Cut(name, ".")
	var found any
	ok := false
	for _, s := range res.Metrics {
		if (qualified && s.Step == step && s.Name == metricName) || (!qualified && s.Name == name) {
			found, ok = s.Value, true
		}
	}
	if !ok {
		t.Fatalf("%s was not recorded", name)
	}
	return found
}

// TestSQLKinds runs sql.exec, sql.insert_loop, pg.replicated, sql.query,
// pg.lag and the writer against a real primary and replica. Rows deleted
// behind the writer's back must be counted as lost, exactly.
func TestSQLKinds(t *testing.T) {
	p, r := pgtest.Pair(t, "primary", "replica")
	res := runScenario(t, fmt.Sprintf(`
name: sql kinds
cluster:
  members:
    pg1: {dsn: "%s"}
    pg2: {dsn: "%s"}
steps:
  - kind: sql.exec
    on: pg1
    sql: CREATE TABLE files (id text primary key, filename text not null, original_name text, file_size bigint, mime_type text, primary_node text, expires_at timestamptz)
  - id: load
    kind: sql.insert_loop
    on: pg1
    rows: 500
    clients: 4
  - id: consistent
    kind: pg.replicated
    leader: pg1
    replicas: pg2
  - id: count
    kind: sql.query
    on: pg2
    sql: SELECT count(*) AS n, current_setting('server_version') AS version, pg_is_in_recovery() AS standby FROM files
    record: {n: number, version: string, standby: bool}
  - id: lag
    kind: pg.lag
    on: pg1
  - id: w
    kind: writer.start
    on: pg1
    rate: 100
    set_read: 50ms
  - kind: sleep
    duration: 800ms
  - id: delete
    name: delete three acknowledged rows behind the writer's back
    kind: sql.exec
    on: pg1
    sql: DELETE FROM drill_writes WHERE seq IN (5, 6, 7)
  - kind: sleep
    duration: 300ms
  - kind: writer.stop
    verify_on: pg1
checks:
  - load.rows == 500 && load.errors == 0 && load.insert_ops > 0
  - count.n == 500 && count.standby && count.version != ""
  - replicas_confirmed == 1 && replication_delay_ms >= 0
  - lag.standbys == 1 && lag.standbys_streaming == 1 && lag_mb < 1
  - delete.rows_affected == 3
  - lost_writes == 3
  - acknowledged >= 50 && failed == 0 && indeterminate_writes == 0
  - set_reads > 0 && set_read_errors == 0 && vanished_writes <= 3 && unread_writes >= 0
  - visible_after_s_p50 >= 0 && visible_after_s_max >= visible_after_s_p50
`, p.DSN("postgres"), r.DSN("postgres")))
	if code := (&report.Run{Scenarios: []*report.Scenario{res}}).ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if got := value(t, res, "lost_writes"); got != 3.0 {
		t.Errorf("lost_writes = %v, want 3", got)
	}
	for _, s := range res.Metrics {
		if s.Name == "ghost_visible_at" {
			t.Errorf("ghost_visible_at recorded (%v) without a ghost write", s.Value)
		}
	}
}

// TestSplitBrainWatcher promotes the replica while the primary still takes
// writes: the watcher must see two primaries for a while.
func TestSplitBrainWatcher(t *testing.T) {
	p, r := pgtest.Pair(t, "primary", "replica")
	res := runScenario(t, fmt.Sprintf(`
name: two primaries
cluster:
  members:
    pg1: {dsn: "%s"}
    pg2: {dsn: "%s"}
steps:
  - kind: watch.split_brain
    interval: 100ms
  - kind: sleep
    duration: 500ms
  - name: promote the replica behind the primary's back
    kind: sql.exec
    on: pg2
    sql: SELECT pg_promote()
  - kind: sleep
    duration: 1500ms
  - kind: watch.stop
checks:
  - max_primaries == 2
  - split_brain_s > 0.5
`, p.DSN("postgres"), r.DSN("postgres")))
	if !res.Passed() {
		t.Fatalf("the watcher did not see the split brain")
	}
	if got := value(t, res, "split_brain_s").(float64); got > 2.5 {
		t.Errorf("split_brain_s = %v, longer than the whole overlap (about 1.5 s)", got)
	}
}

// TestNotMeasuredIsMissing: a writer whose verification fails leaves
// lost_writes unrecorded, and a check on it is an error, not a pass.
func TestNotMeasuredIsMissing(t *testing.T) {
	p := pgtest.Primary(t, "primary")
	res := runScenario(t, fmt.Sprintf(`
name: unverifiable
steps:
  - kind: writer.start
    dsn: "%s"
    rate: 50
  - kind: sleep
    duration: 300ms
  - kind: writer.stop
    verify_dsn: "host=127.0.0.1 port=1 user=postgres dbname=postgres connect_timeout=1"
    continue_on_error: true
checks:
  - lost_writes == 0
`, p.DSN("postgres")))
	c := res.Checks[0]
	if c.Status != report.Error || !strings.Contains(c.Message, "not measured: lost_writes") {
		t.Fatalf("check = %s %q, want an error saying lost_writes was not measured", c.Status, c.Message)
	}
	for _, s := range res.Metrics {
		if s.Name == "lost_writes" {
			t.Fatalf("lost_writes recorded as %v although nothing was verified", metric.Format(s.Value))
		}
	}
}

// TestAuthFailureNotRetried: a server that refuses drill's credentials
// (here an unknown role: SQLSTATE 28000) fails a SQL step at once, whatever
// its retry: or a wait_until poll says, and the error names the user and
// the DSN with the password masked.
func TestAuthFailureNotRetried(t *testing.T) {
	p := pgtest.Primary(t, "auth")
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=nobody password=hunter2 dbname=postgres sslmode=disable", p.Port)
	res := runScenario(t, fmt.Sprintf(`
name: auth
cluster:
  members:
    pg1: {dsn: "%s"}
steps:
  - name: query
    kind: sql.query
    on: pg1
    sql: SELECT 1 AS one
    retry: {attempts: 50, interval: 1s}
    continue_on_error: true
  - name: wait
    kind: wait_until
    expr: one == 1
    interval: 1s
    timeout: 5m
    poll: {kind: sql.query, on: pg1, sql: SELECT 1 AS one, record: {one: number}}
`, dsn))
	want := fmt.Sprintf(`authentication refused for user "nobody" at postgres://nobody:***@127.0.0.1:%d/postgres (SQLSTATE 28000)`, p.Port)
	for _, st := range res.Steps {
		if !strings.Contains(st.Message, want) || strings.Contains(st.Message, "hunter2") {
			t.Errorf("step %s: %s %q, want an error with %q", st.Name, st.Status, st.Message, want)
		}
	}
	if st := res.Steps[0]; st.Attempts != 1 {
		t.Errorf("the refused query was tried %d times, want once", st.Attempts)
	}
}

// A writer.start whose route never takes a client fails when its step's
// time runs out, saying so, instead of retrying for ever (the writer
// outlives its step, its start does not).
func TestWriterStartGivesUpAtItsTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now: every connection is refused
	res := runScenario(t, fmt.Sprintf(`
name: a route that never takes a client
steps:
  - kind: writer.start
    dsn: "host=127.0.0.1 port=%d user=postgres sslmode=disable connect_timeout=1"
    timeout: 1500ms
`, port))
	st := res.Steps[0]
	if st.Status != report.Error || !strings.Contains(st.Message, "still refused when the step's time ran out") || !strings.Contains(st.Message, "refused") {
		t.Errorf("writer.start: %s %q, want an error saying the route still refused when time ran out", st.Status, st.Message)
	}
	if d := st.Duration; d > time.Minute {
		t.Errorf("writer.start took %v with a 1.5 s timeout", d)
	}
}
