//go:build testbed

package all_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/app/report"
)

// TestLossSurvivesUnhealedRun runs examples/testbed/drills/unhealed-loss.yaml:
// the partition that cut the old leader off stays, so the wait for a healed
// cluster fails; writer.stop still runs in its place and counts the
// acknowledged writes the new leader lacks. The count is checked against the
// new leader's table: each seq the writer reports lost is absent there, and
// the rows present plus the lost ones cover every acknowledged write.
func TestLossSurvivesUnhealedRun(t *testing.T) {
	s := runDrill(t, testbedFile(t, "drills/unhealed-loss.yaml"), "", t.TempDir())
	step := func(name string) *report.Step {
		for _, st := range s.Steps {
			if st.ID == name || st.Name == name {
				return st
			}
		}
		t.Fatalf("no step %q", name)
		return nil
	}
	if st := step("wait for a healed cluster (it cannot heal while the partition stays)"); st.Status != report.Error || !strings.Contains(st.Message, "timed out") {
		t.Fatalf("the wait for a healed cluster: %s %q, want an error: timed out", st.Status, st.Message)
	}
	if st := step("heal the partition (skipped, as the step before failed)"); st.Status != report.Skipped {
		t.Errorf("network.heal: %s, want skipped", st.Status)
	}
	writes := step("writes")
	if writes.Status != report.Passed || !writes.Settled {
		t.Fatalf("writer.stop: %s (settled %v) %q, want passed, run after the stop", writes.Status, writes.Settled, writes.Message)
	}
	if st := step("after"); st.Status != report.Skipped {
		t.Errorf("the status after writer.stop: %s, want skipped", st.Status)
	}

	checks := map[string]*report.Check{}
	for _, c := range s.Checks {
		checks[c.Name] = c
	}
	lost, ok := sample(s, "writes", "lost_writes")
	if !ok {
		t.Fatalf("lost_writes not recorded; writer.stop log:\n%s", writes.Log)
	}
	if c := checks["no acknowledged write was lost"]; c == nil || c.Status != report.Failed || lost.(float64) < 1 {
		t.Fatalf("the loss check: %+v, lost_writes %v; want failed with at least one lost write", c, lost)
	}
	if c := checks["a replica was promoted within 60 s (seed RTO)"]; c == nil || c.Status != report.Passed {
		t.Errorf("the promotion check: %+v, want passed (its metrics were measured before the failure)", c)
	}
	if c := checks["the same leader afterwards (reads a skipped step)"]; c == nil || c.Status != report.Skipped || !strings.Contains(c.Message, "not measured: after.leader") {
		t.Errorf("the check on a skipped step: %+v, want skipped, naming after.leader", c)
	}

	// The independent count, on the new leader's table.
	leader, _ := sample(s, "failover", "leader")
	acked, _ := sample(s, "writes", "acknowledged")
	run := runIDOf(t, step("start").Log)
	seqs := regexp.MustCompile(`lost acknowledged writes \(seq\): \[([0-9 ]+)\]`).FindStringSubmatch(writes.Log)
	if seqs == nil {
		t.Fatalf("no lost seqs in writer.stop's log:\n%s", writes.Log)
	}
	sql := func(q string) int { t.Helper(); return countIn(t, leader.(string), q) }
	where := "run_id = '" + run + "'"
	listed := strings.Join(strings.Fields(seqs[1]), ",")
	if n := sql("SELECT count(*) FROM drill_writes WHERE " + where + " AND seq IN (" + listed + ")"); n != 0 {
		t.Errorf("%d of the seqs reported lost (%s) are on the new leader %s", n, listed, leader)
	}
	present := sql("SELECT count(*) FROM drill_writes WHERE " + where)
	if float64(present)+lost.(float64) < acked.(float64) {
		t.Errorf("the new leader has %d rows of run %s and %v were reported lost, fewer than the %v acknowledged", present, run, lost, acked)
	}
	t.Logf("lost %v of %v acknowledged writes; the new leader %s has %d rows of the run", lost, acked, leader, present)
}
