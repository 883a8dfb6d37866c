package all_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/client/pg/pgtest"
)

// TestReaderKinds runs reader.start and reader.stop on a real primary and
// replica: the reader on the primary follows the writer and is never stale;
// the one on the replica is still running when a step fails, and
// reader.stop runs in its place and records what it read.
func TestReaderKinds(t *testing.T) {
	p, r := pgtest.Pair(t, "primary", "replica")
	res := runScenario(t, fmt.Sprintf(`
name: reader kinds
cluster:
  members:
    pg1: {dsn: "%s"}
    pg2: {dsn: "%s"}
steps:
  - kind: writer.start
    on: pg1
    rate: 100
  - kind: reader.start
    reader: on_primary
    on: pg1
    follows: writer
    concurrency: 2
  - kind: sleep
    duration: 500ms
  - id: primary_reads
    kind: reader.stop
    reader: on_primary
  - name: drill_writes is on the replica
    kind: pg.replicated
    leader: pg1
    replicas: pg2
  - kind: reader.start
    on: pg2
    follows: writer
    rate: 200
  - kind: sleep
    duration: 300ms
  - name: fail on purpose
    kind: sql.exec
    on: pg1
    sql: SELECT 1/0
  - id: replica_reads
    kind: reader.stop
  - kind: writer.stop
    verify_on: pg1
checks:
  - primary_reads.reads > 0 && primary_reads.read_errors == 0 && primary_reads.reads_per_s > 0
  - primary_reads.stale_reads == 0 && primary_reads.max_stale_rows == 0 && primary_reads.backwards_reads == 0
  - replica_reads.reads > 0 && replica_reads.read_errors == 0 && replica_reads.reads_per_s <= 200 * 1.1
  - lost_writes == 0
`, p.DSN("postgres"), r.DSN("postgres")))
	if len(res.Checks) != 4 {
		t.Fatalf("%d checks evaluated, want 4", len(res.Checks))
	}
	for _, c := range res.Checks {
		if c.Status != report.Passed {
			t.Errorf("check %q: %s %s", c.Expr, c.Status, c.Message)
		}
	}
	var settled *report.Step
	for _, s := range res.Steps {
		if s.ID == "replica_reads" && s.Settled {
			settled = s
		}
	}
	if settled == nil || settled.Status != report.Passed {
		t.Fatalf("reader.stop did not run in place after the failed step: %+v", settled)
	}
	for _, s := range res.Metrics {
		if s.Name == "read_outage_s" {
			t.Errorf("read_outage_s recorded (%v) although no read failed", s.Value)
		}
	}
}

// TestReplicaRoute reads through the cluster block's replica_dsn (here the
// replica itself, as HAProxy's replica port would route): reader.start and
// sql.query take on: replica_route and reach the replica. A target that
// becomes replica_route only at run time, in a block without replica_dsn,
// fails the step with what to set.
func TestReplicaRoute(t *testing.T) {
	p, r := pgtest.Pair(t, "primary", "replica")
	res := runScenario(t, fmt.Sprintf(`
name: replica route
cluster:
  replica_dsn: "%[2]s"
  members:
    pg1: {dsn: "%[1]s"}
    pg2: {dsn: "%[2]s"}
steps:
  - kind: writer.start
    on: pg1
    rate: 100
  - kind: pg.replicated
    leader: pg1
    replicas: pg2
  - kind: reader.start
    on: replica_route
    follows: writer
    concurrency: 2
  - id: route
    kind: sql.query
    on: replica_route
    sql: SELECT pg_is_in_recovery() AS standby
    record: {standby: bool}
  - id: via_route
    kind: reader.stop
  - kind: writer.stop
    verify_on: pg1
checks:
  - route.standby
  - via_route.reads > 0 && via_route.read_errors == 0
`, p.DSN("postgres"), r.DSN("postgres")))
	if code := (&report.Run{Scenarios: []*report.Scenario{res}}).ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(res.Steps[2].Log, "reading through replica_route") {
		t.Errorf("reader.start's log does not name the route: %q", res.Steps[2].Log)
	}
	// the reader's reads per bucket are on the timeline, as many as it counted
	reads := int(value(t, res, "via_route.reads").(float64))
	if res.Timeline == nil || len(res.Timeline.Reads) != 1 {
		t.Fatalf("timeline %+v: want the reader's buckets", res.Timeline)
	}
	rd := res.Timeline.Reads[0]
	ok, failed := 0, 0
	for i := range rd.OK {
		ok, failed = ok+rd.OK[i], failed+rd.Failed[i]
	}
	if rd.Reader != "reader" || rd.Step != "via_route" || rd.On != "replica_route" || rd.BucketMS != 100 || ok != reads || failed != 0 || rd.Outage != nil {
		t.Errorf("the reader on the timeline: %s/%s through %s, %d ok and %d failed reads (reader.stop counted %d), outage %+v", rd.Reader, rd.Step, rd.On, ok, failed, reads, rd.Outage)
	}

	res = runScenario(t, fmt.Sprintf(`
name: replica route known at run time
cluster:
  members:
    pg1: {dsn: "%s"}
steps:
  - id: q
    kind: sql.query
    on: pg1
    sql: SELECT 'replica_route' AS target
    record: {target: string}
  - kind: sql.query
    on: ${q.target}
    sql: SELECT 1
`, p.DSN("postgres")))
	want := "on: replica_route needs cluster.replica_dsn: set it to the read-only route to the replicas (e.g. HAProxy's replica port)"
	if len(res.Steps) != 2 || res.Steps[1].Status != report.Error || res.Steps[1].Message != want {
		t.Errorf("the step on a run-time replica_route without replica_dsn: %+v, want the error %q", res.Steps[len(res.Steps)-1], want)
	}
}
