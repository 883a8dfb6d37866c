//go:build testbed

package all_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
)

// These tests need the compose bed up (examples/testbed/up); scripts/e2e
// runs them. Each leaves the bed healthy.

// runDrillOnBed loads and runs one scenario against the bed.
func runDrillOnBed(t *testing.T, file string, src []byte) *report.Run {
	t.Helper()
	var loaded []*runner.Loaded
	var err error
	if src == nil {
		loaded, err = runner.LoadFiles([]string{file}, nil, nil)
	} else {
		var l *runner.Loaded
		l, err = runner.LoadScenario(file, src, nil, map[string]bool{})
		loaded = []*runner.Loaded{l}
	}
	if err != nil {
		t.Fatalf("loading:\n%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run := runner.Run(ctx, loaded, runner.Options{StateDir: t.TempDir()})
	for _, sc := range run.Scenarios {
		for _, s := range append(sc.Steps, sc.Cleanup...) {
			t.Logf("step %-40s %-8s %s in %s\n%s", s.Name, s.Status, s.Message, s.Duration.Round(time.Millisecond), s.Log)
		}
		for _, u := range sc.Undo {
			t.Logf("undo %s: %s %s at %s", u.Fault, u.Status, u.Message, u.At.Format(time.RFC3339Nano))
		}
		for _, c := range sc.Checks {
			t.Logf("check %-40s %-8s %s", c.Name, c.Status, c.Message)
		}
	}
	return run
}

// TestTestbedEveryMember runs the shipped drill that compares members with
// each other (sql.query on: all).
func TestTestbedEveryMember(t *testing.T) {
	run := runDrillOnBed(t, "../../examples/testbed/drills/every-member.yaml", nil)
	if sc := run.Scenarios[0]; !sc.Passed() {
		t.Fatalf("every-member.yaml did not pass (exit %d): %s", run.ExitCode(), sc.Aborted)
	}
}

// TestTestbedGuardTrips: a guard over a live reading (every member
// answers, read by sql.query on: all) trips when a replica is stopped. The
// 10-minute sleep after the stop does not last, the replica is started
// again by the undo right away and is healthy again (the stop was applied
// to its end before the undo, not abandoned half-way), and the report has
// the guard's failed check with the value seen (exit 1).
func TestTestbedGuardTrips(t *testing.T) {
	clusterFile, err := filepath.Abs("../../examples/testbed/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := `name: guard trips on the bed
cluster: ` + clusterFile + `
steps:
  - kind: patroni.wait_healthy
    members: 3
    timeout: 2m
  - kind: guard.start
    guard: all_up
    expr: members_answered < 3
    interval: 200ms
    poll:
      kind: sql.query
      on: all
      allow_down: true
      member_timeout: 2s
      sql: SELECT 1 AS up
    message: every member must answer
  - id: stop
    kind: compose.stop
    target: postgres-standby2
  - name: keep the fault
    kind: sleep
    duration: 10m
  - kind: guard.stop
    guard: all_up
cleanup:
  - kind: patroni.wait_healthy
    members: 3
    timeout: 3m
`
	run := runDrillOnBed(t, "guard-trips.yaml", []byte(src))
	sc := run.Scenarios[0]
	if run.ExitCode() != report.ExitCheckFailed {
		t.Errorf("exit %d, want %d", run.ExitCode(), report.ExitCheckFailed)
	}
	// The guard trips while the stop is applied (the member stops answering
	// before the container has exited) or during the sleep after it; the
	// stop is applied to its end either way, and the sleep does not last.
	if st := sc.Steps[2]; st.Status == report.Error {
		t.Errorf("the stop: %s %q", st.Status, st.Message)
	}
	sleep := sc.Steps[3]
	if sleep.Status == report.Passed || sleep.Duration > 2*time.Minute {
		t.Errorf("the sleep: %s after %s %q; want cancelled by the guard, or skipped", sleep.Status, sleep.Duration, sleep.Message)
	}
	if st := sc.Steps[4]; st.Status != report.Skipped {
		t.Errorf("guard.stop: %s, want skipped", st.Status)
	}
	if len(sc.Checks) == 0 || sc.Checks[0].Name != "guard all_up" || sc.Checks[0].Status != report.Failed ||
		!strings.Contains(sc.Checks[0].Message, "tripped: members_answered < 3: members_answered = 2 (every member must answer)") {
		t.Errorf("checks: %+v; want the guard's failed check first, with members_answered = 2", sc.Checks)
	}
	if len(sc.Undo) != 1 || sc.Undo[0].Status != report.Passed || sc.Undo[0].At.After(sc.Steps[2].Started.Add(2*time.Minute)) {
		t.Errorf("undo: %+v; want the replica started again right after the trip", sc.Undo)
	}
	if st := sc.Cleanup[0]; st.Status != report.Passed {
		t.Errorf("the bed is not healthy again: %s %s", st.Status, st.Message)
	}
}
