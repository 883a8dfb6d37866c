package all_test

import (
	"fmt"
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
