package runner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

func init() {
	steps.Register(steps.Kind{Name: "test.measure", Summary: "record the next of its values", New: func() steps.Step { return &measureStep{} },
		Metrics: []metric.Spec{{Name: "value", Type: metric.Number, Doc: "the next value"}}})
}

// measureStep records values[k] on its k-th run (counted in the journal,
// from 0), or fails on the run fail_on (from 1).
type measureStep struct {
	Values []float64 `yaml:"values" required:"true"`
	FailOn int       `yaml:"fail_on"`
}

func (s *measureStep) Run(_ context.Context, env *steps.Env) error {
	_, j := stepJournal(env)
	k := 0
	for _, l := range j.Lines() {
		if strings.HasPrefix(l, "measure") {
			k++
		}
	}
	if k+1 == s.FailOn {
		j.Add("measure failed")
		return errors.New("the measurement failed")
	}
	v := s.Values[k%len(s.Values)]
	j.Add("measure %v", v)
	return env.Record("value", v)
}

// (g) --repeat 3: each run injects and undoes its fault and runs its
// cleanup step before the next starts; each run evaluates the per-run
// checks; the distribution check is evaluated once, over the three runs,
// after the last.
func TestExecutorRepeat(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("repeat"),
		WithOptions(func(o *runner.Options) { o.Repeat = 3 }),
		WithScenario(`
name: repeat
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {id: m, name: measure, kind: test.measure, values: [12, 10, 14.5]}
cleanup:
  - {name: tidy, kind: test.note, text: cleanup ran}
checks:
  - m.value > 0
  - p95(m.value) < 20 && max(value) == 14.5 && count(m.value) == 3
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			var want []string
			for _, v := range []string{"12", "10", "14.5"} {
				want = append(want, "apply a", "measure "+v, "undo a", "note cleanup ran")
			}
			journalWant(t, r, want...)
			if len(r.Run.Scenarios) != 3 || len(r.Run.Series) != 1 {
				t.Fatalf("%d scenarios, %d series; want 3 and 1", len(r.Run.Scenarios), len(r.Run.Series))
			}
			for i, s := range r.Run.Scenarios {
				if s.Run != i+1 || s.Runs != 3 || len(s.Checks) != 1 {
					t.Errorf("run %d: run %d of %d with %d checks; want the per-run check only", i+1, s.Run, s.Runs, len(s.Checks))
				}
			}
			if got := r.Run.ExitCode(); got != report.ExitPassed {
				t.Errorf("exit %d", got)
			}
		}),
	)
}

// (h) --repeat with --fail-fast: the run that fails stops the series; the
// rest are skipped, and so are the checks over the runs.
func TestExecutorRepeatFailFast(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("repeat-fail-fast"),
		WithOptions(func(o *runner.Options) { o.Repeat, o.FailFast = 3, true }),
		WithScenario(`
name: repeat fail fast
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {id: m, name: measure, kind: test.measure, values: [1], fail_on: 2}
checks:
  - max(m.value) < 5
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "measure 1", "undo a", "apply a", "measure failed", "undo a")
			if got := r.Run.ExitCode(); got != report.ExitError {
				t.Errorf("exit %d, want %d", got, report.ExitError)
			}
		}),
	)
}

// (h') --repeat without --fail-fast: a run that fails does not stop the
// others; the distribution reads the runs that measured, and count says how
// many did.
func TestExecutorRepeatFailedRun(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("repeat-failed-run"),
		WithOptions(func(o *runner.Options) { o.Repeat = 3 }),
		WithScenario(`
name: repeat failed run
steps:
  - {id: m, name: measure, kind: test.measure, values: [1, 2, 3], fail_on: 2}
checks:
  - count(m.value) == 2 && max(m.value) == 3
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			if s := r.Run.Series[0]; s.Passed != 2 || s.Checks[0].Status != report.Passed {
				t.Errorf("series: %d passed, check %s %q", s.Passed, s.Checks[0].Status, s.Checks[0].Message)
			}
		}),
	)
}

// (i) A matrix: each combination is its own run with its vars, its fault
// undone before the next combination starts.
func TestExecutorMatrix(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("matrix"),
		WithScenario(`
name: matrix
vars:
  fault: x
  note: one
matrix:
  fault: [a, b]
  note: [one, two]
steps:
  - {name: inject, kind: test.fault, fault: "${fault}"}
  - {name: say, kind: test.note, text: "${fault} ${note}"}
checks:
  - vars.fault != "x"
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r,
				"apply a", "note a one", "undo a",
				"apply a", "note a two", "undo a",
				"apply b", "note b one", "undo b",
				"apply b", "note b two", "undo b")
			if got := r.Run.Scenarios[3].Label(); got != "matrix [fault=b, note=two]" {
				t.Errorf("label %q", got)
			}
		}),
	)
}
