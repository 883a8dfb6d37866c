package runner_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

// Fake kinds for guards: test.set sets a number for the scenario, test.get
// records it as `value`, the live reading a guard's poll step takes.
func init() {
	steps.Register(steps.Kind{Name: "test.set", Summary: "set the scenario's value", New: func() steps.Step { return &setStep{} }})
	steps.Register(steps.Kind{Name: "test.get", Summary: "record the scenario's value", New: func() steps.Step { return &getStep{} },
		Metrics: []metric.Spec{{Name: "value", Type: metric.Number, Doc: "the value test.set set last (0 before)"}}})
}

// values holds each scenario's value, by journal key.
var values sync.Map

type setStep struct {
	Value float64 `yaml:"value"`
}

func (s *setStep) Run(_ context.Context, env *steps.Env) error {
	key, j := stepJournal(env)
	values.Store(key, s.Value)
	j.Add("set %v", s.Value)
	return nil
}

type getStep struct{}

func (s *getStep) Run(_ context.Context, env *steps.Env) error {
	key, _ := stepJournal(env)
	v, _ := values.Load(key)
	f, _ := v.(float64)
	return env.Record("value", f)
}

// A guard trips while a step blocks: that step is cancelled at once (it
// would block for 10 minutes), the rest are skipped, the fault is undone
// before the cleanup steps, and the report has a failed check named after
// the guard with its expr and the value seen, in JUnit too (exit code 1).
func TestExecutorGuardTrips(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("guard-trips"),
		WithScenario(`
name: guard trips
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: small value, kind: test.set, value: 1}
  - name: watch the value
    kind: guard.start
    guard: value
    expr: value > 1
    interval: 10ms
    poll: {kind: test.get}
    message: the value must stay small
  - {name: raise the value and hang, kind: test.block, set: 7}
  - {name: after, kind: test.note, text: should not run}
  - {name: stop watching, kind: guard.stop, guard: value}
cleanup:
  - {name: tidy, kind: test.note, text: cleanup ran}
checks:
  - true
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "set 1", "set 7", "block", "unblocked: context canceled", "undo a", "note cleanup ran")
			sc := r.Run.Scenarios[0]
			if r.Run.ExitCode() != report.ExitCheckFailed || r.Run.Interrupted {
				t.Errorf("exit %d (interrupted %v), want %d", r.Run.ExitCode(), r.Run.Interrupted, report.ExitCheckFailed)
			}
			if st := sc.Steps[3]; st.Status != report.Failed || !strings.Contains(st.Log, "cancelled: ") {
				t.Errorf("the blocked step: %s %q, want failed with the guard's message, its own error in its log:\n%s", st.Status, st.Message, st.Log)
			}
			var junit bytes.Buffer
			if err := report.WriteJUnit(&junit, r.Run, report.NewMasker(nil)); err != nil {
				t.Fatal(err)
			}
			want := `guard &#34;value&#34; (guard-trips.yaml:6:5) tripped: value &gt; 1: value = 7 (the value must stay small)`
			if !strings.Contains(junit.String(), `name="check: guard value"`) || !strings.Contains(junit.String(), want) {
				t.Errorf("JUnit lacks the guard's testcase and failure %s:\n%s", want, junit.String())
			}
			if v := metricValue(sc, "tripped"); v != true {
				t.Errorf("tripped = %v, want true (recorded when the runner stopped the guard)", v)
			}
		}),
	)
}

// A guard that never trips: the scenario passes, guard.stop records how
// often it evaluated, and checks can read it.
func TestExecutorGuardHolds(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("guard-holds"),
		WithScenario(`
name: guard holds
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: small value, kind: test.set, value: 1}
  - {name: watch the value, kind: guard.start, guard: value, expr: value > 1, interval: 10ms, poll: {kind: test.get}}
  - {name: wait for evaluations, kind: wait_until, expr: true, hold: 300ms, interval: 10ms}
  - {id: stop, name: stop watching, kind: guard.stop, guard: value}
checks:
  - stop.evaluations >= 2 && !stop.tripped && stop.seen == "value = 1"
  - stop.failed_evaluations == 0
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "set 1", "undo a")
			if !r.Run.Scenarios[0].Passed() {
				t.Errorf("the scenario did not pass: %s", r.Run.Scenarios[0].Aborted)
			}
		}),
	)
}

// guard.start whose condition is true at once fails at once.
func TestExecutorGuardTrueAtStart(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("guard-true-at-start"),
		WithScenario(`
name: guard true at start
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: big value, kind: test.set, value: 5}
  - {name: watch the value, kind: guard.start, guard: value, expr: value > 1, poll: {kind: test.get}}
  - {name: after, kind: test.note, text: should not run}
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "set 5", "undo a")
			if r.Run.ExitCode() != report.ExitCheckFailed {
				t.Errorf("exit %d, want %d", r.Run.ExitCode(), report.ExitCheckFailed)
			}
		}),
	)
}

// metricValue is the last value recorded under name.
func metricValue(sc *report.Scenario, name string) any {
	var v any
	for _, s := range sc.Metrics {
		if s.Name == name {
			v = s.Value
		}
	}
	return v
}

// A guard's poll step may refer to what earlier steps recorded: the
// reference is resolved from the run's metrics, not the guard's own.
func TestGuardPollReference(t *testing.T) {
	t.Parallel()
	src := `name: guard reference
steps:
  - {id: first, kind: shell, command: echo 1}
  - kind: guard.start
    expr: stdout != "1"
    interval: 10ms
    poll: {kind: shell, command: "echo ${first.stdout}"}
  - {kind: wait_until, expr: true, hold: 50ms, interval: 10ms}
  - {id: stop, kind: guard.stop}
checks:
  - stop.evaluations >= 1 && stop.failed_evaluations == 0 && !stop.tripped
`
	l, err := runner.LoadScenario("f.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	sc := runner.Run(context.Background(), []*runner.Loaded{l}, runner.Options{StateDir: t.TempDir()}).Scenarios[0]
	if !sc.Passed() {
		for _, st := range sc.Steps {
			t.Logf("%s %s %s\n%s", st.Kind, st.Status, st.Message, st.Log)
		}
		t.Fatalf("did not pass: %s; checks: %+v", sc.Aborted, sc.Checks)
	}
}

// Measurements survive a failed step: the guard.stop after the failure
// still runs in its place (its guard is running), records what the guard
// measured, and the checks that read only measured metrics are evaluated
// (one passes, one fails with the value seen); a check that reads a metric
// of a skipped step is skipped and names it. The run's exit code is the
// step error's.
func TestExecutorSettlesAfterFailedStep(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("settle-after-failed-step"),
		WithScenario(`
name: settle after a failed step
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: small value, kind: test.set, value: 1}
  - {name: watch the value, kind: guard.start, guard: value, expr: value > 1, interval: 10ms, poll: {kind: test.get}}
  - {name: wait for evaluations, kind: wait_until, expr: true, hold: 100ms, interval: 10ms}
  - {name: break, kind: test.fail, message: the cluster did not heal}
  - {id: later, name: read the value, kind: test.get}
  - {id: stop, name: stop watching, kind: guard.stop, guard: value}
  - {name: after, kind: test.note, text: should not run}
checks:
  - name: the guard evaluated
    expr: stop.evaluations >= 2 && !stop.tripped
  - name: the guard saw a large value
    expr: stop.seen == "value = 7"
  - name: the value read later
    expr: later.value == 1
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "set 1", "fail", "undo a")
			sc := r.Run.Scenarios[0]
			if st := sc.Steps[6]; st.Status != report.Passed || !st.Settled {
				t.Errorf("guard.stop: %s (settled %v) %q, want passed and settled", st.Status, st.Settled, st.Message)
			}
			if st := sc.Steps[7]; st.Status != report.Skipped {
				t.Errorf("the note after guard.stop: %s, want skipped", st.Status)
			}
			if r.Run.ExitCode() != report.ExitError {
				t.Errorf("exit %d, want %d", r.Run.ExitCode(), report.ExitError)
			}
		}),
	)
}
