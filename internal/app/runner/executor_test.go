package runner_test

// In-process runner tests, modelled on go-task's executor_test.go: each case
// is built with NewExecutorTest and functional options, runs a scenario of
// fake step kinds (no Docker) and compares a normalised text summary of the
// run with testdata/executor/<name>.golden through golden.Check (go test
// ./internal/app/runner -run Executor -update rewrites them).
//
// The fake kinds journal what they do in memory. A scenario's journal is
// keyed by its file name (the step's position names it), and the undo's
// arguments carry that key, so that cases run in parallel and `drill
// cleanup` (runner.Cleanup) finds the journal from the ledger alone.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/fault/faulttest"
	"github.com/drill-dev/drill/internal/golden"
	"github.com/drill-dev/drill/steps"
)

// fakeUndoOp undoes a test.fault.
const fakeUndoOp = "test.runner.undo"

func init() {
	steps.Register(steps.Kind{Name: "test.fault", Summary: "inject a fake fault", Fault: true, New: func() steps.Step { return &fakeFault{} }})
	steps.Register(steps.Kind{Name: "test.fail", Summary: "fail", New: func() steps.Step { return &failStep{} }})
	steps.Register(steps.Kind{Name: "test.block", Summary: "wait until the step's context ends", Timeout: 10 * time.Minute, New: func() steps.Step { return &blockStep{} }})
	steps.Register(steps.Kind{Name: "test.note", Summary: "write a line to the journal", New: func() steps.Step { return &noteStep{} }})
	steps.Register(steps.Kind{Name: "test.interrupt", Summary: "press Ctrl-C", New: func() steps.Step { return &interruptStep{} }})
	fault.Register(fakeUndoOp, fakeUndo)
}

// cancels holds, by journal key, the cancel function of a run's root
// context (for test.interrupt).
var cancels sync.Map

// stepJournal is the journal of the scenario a running step belongs to.
func stepJournal(env *steps.Env) (string, *faulttest.Journal) {
	key := env.Step.Spec.Pos.File
	return key, faulttest.Of(key)
}

// fakeFault injects a fault through the ledger and journals its apply.
type fakeFault struct {
	Name      string `yaml:"fault" required:"true"`
	Keep      bool   `yaml:"keep"`
	FailApply bool   `yaml:"fail_apply"`
	FailUndo  int    `yaml:"fail_undo"` // the undo fails this many times first
}

func (f *fakeFault) Run(ctx context.Context, env *steps.Env) error {
	key, j := stepJournal(env)
	return env.Faults.Inject(ctx, fault.Fault{
		Desc:   "fake fault " + f.Name,
		Target: f.Name,
		Undo:   fault.NewAction(fakeUndoOp, faulttest.UndoArgs{Journal: key, Name: f.Name, Fail: f.FailUndo}),
		Keep:   f.Keep,
	}, func(context.Context) error {
		if f.FailApply {
			j.Add("apply %s failed", f.Name)
			return fmt.Errorf("applying %s failed", f.Name)
		}
		j.Add("apply %s", f.Name)
		return nil
	})
}

// fakeUndo ignores the connector: the fake faults touch nothing.
func fakeUndo(_ context.Context, _ fault.Connector, raw json.RawMessage) error {
	return faulttest.Undo(raw)
}

type failStep struct {
	Message string `yaml:"message"`
}

func (s *failStep) Run(_ context.Context, env *steps.Env) error {
	_, j := stepJournal(env)
	j.Add("fail")
	if s.Message == "" {
		s.Message = "boom"
	}
	return errors.New(s.Message)
}

// blockStep blocks; with set, it first sets the scenario's value (see
// test.set), so that a guard trips while it blocks.
type blockStep struct {
	Set *float64 `yaml:"set"`
}

func (s *blockStep) Run(ctx context.Context, env *steps.Env) error {
	key, j := stepJournal(env)
	if s.Set != nil {
		values.Store(key, *s.Set)
		j.Add("set %v", *s.Set)
	}
	j.Add("block")
	<-ctx.Done()
	j.Add("unblocked: %v", ctx.Err())
	return ctx.Err()
}

type noteStep struct {
	Text string `yaml:"text" required:"true"`
}

func (s *noteStep) Run(_ context.Context, env *steps.Env) error {
	_, j := stepJournal(env)
	j.Add("note %s", s.Text)
	return nil
}

// interruptStep cancels the run's root context as Ctrl-C does, then waits
// for its own context to end.
type interruptStep struct{}

func (s *interruptStep) Run(ctx context.Context, env *steps.Env) error {
	key, j := stepJournal(env)
	c, ok := cancels.Load(key)
	if !ok {
		return errors.New("test.interrupt: the test gave no cancel function (WithInterruptible)")
	}
	cancel := c.(context.CancelCauseFunc)
	j.Add("ctrl-c")
	cancel(runner.ErrInterrupted)
	<-ctx.Done()
	return ctx.Err()
}

// ExecutorTest is one in-process run of a scenario.
type ExecutorTest struct {
	name          string // the golden file's name, and the scenario's file
	scenario      string
	interruptible bool
	cleanups      int // drill cleanup calls after the run
	before        func(t *testing.T, dir, key string) string
	check         func(t *testing.T, r *ExecutorResult)
	options       func(*runner.Options)
	runContext    func(context.Context) context.Context
}

// ExecutorResult is what a case produced.
type ExecutorResult struct {
	Run      *report.Run
	StateDir string
	Journal  *faulttest.Journal
	Cleanups [][]*report.Undo
}

// ExecutorTestOption configures an ExecutorTest.
type ExecutorTestOption func(*ExecutorTest)

// WithName names the case: its golden file and its scenario's file.
func WithName(name string) ExecutorTestOption { return func(e *ExecutorTest) { e.name = name } }

// WithScenario is the scenario's YAML.
func WithScenario(yaml string) ExecutorTestOption {
	return func(e *ExecutorTest) { e.scenario = yaml }
}

// WithInterruptible lets test.interrupt cancel the run's root context with
// runner.ErrInterrupted.
func WithInterruptible() ExecutorTestOption { return func(e *ExecutorTest) { e.interruptible = true } }

// WithCleanupRuns calls runner.Cleanup n times after the run, as `drill
// cleanup --state-dir DIR` would.
func WithCleanupRuns(n int) ExecutorTestOption { return func(e *ExecutorTest) { e.cleanups = n } }

// WithBefore runs fn on the state directory before the run (a crashed
// earlier run); what it returns goes into the summary.
func WithBefore(fn func(t *testing.T, dir, key string) string) ExecutorTestOption {
	return func(e *ExecutorTest) { e.before = fn }
}

// WithCheck adds assertions beyond the golden summary.
func WithCheck(fn func(t *testing.T, r *ExecutorResult)) ExecutorTestOption {
	return func(e *ExecutorTest) { e.check = fn }
}

// WithOptions changes the runner's options.
func WithOptions(fn func(*runner.Options)) ExecutorTestOption {
	return func(e *ExecutorTest) { e.options = fn }
}

// withRunContext derives the run's root context (to cancel it from outside
// the run).
func withRunContext(fn func(context.Context) context.Context) ExecutorTestOption {
	return func(e *ExecutorTest) { e.runContext = fn }
}

// NewExecutorTest runs the case and compares its summary with the golden
// file.
func NewExecutorTest(t *testing.T, opts ...ExecutorTestOption) {
	t.Helper()
	e := &ExecutorTest{}
	for _, o := range opts {
		o(e)
	}
	if e.name == "" {
		t.Fatal("NewExecutorTest: WithName is required")
	}
	e.run(t)
}

func (e *ExecutorTest) run(t *testing.T) {
	t.Helper()
	key := e.name + ".yaml"
	j := faulttest.New(key)
	dir := t.TempDir()
	// A generous bound so that a broken runner fails instead of hanging; no
	// case comes near it.
	ctx, cancelAll := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelAll()

	var sum strings.Builder
	if e.before != nil {
		if e.scenario == "" {
			fmt.Fprintf(&sum, "%s", e.before(t, dir, key))
		} else {
			fmt.Fprintf(&sum, "before the run:\n%s", e.before(t, dir, key))
		}
	}

	res := &ExecutorResult{StateDir: dir, Journal: j}
	if e.scenario != "" {
		l, err := runner.LoadScenarios(key, []byte(e.scenario), nil, map[string]bool{})
		if err != nil {
			t.Fatalf("load:\n%v", err)
		}
		runCtx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		cancels.Delete(key)
		if e.interruptible {
			cancels.Store(key, cancel)
		}
		if e.runContext != nil {
			runCtx = e.runContext(runCtx)
		}
		opts := runner.Options{StateDir: dir, CleanupTimeout: time.Minute}
		if e.options != nil {
			e.options(&opts)
		}
		res.Run = runner.Run(runCtx, l, opts)
		sum.WriteString(summarizeRun(res.Run))
		fmt.Fprintf(&sum, "journal:\n%s", indent(j.Lines()))
		fmt.Fprintf(&sum, "pending after the run:\n%s", indent(pending(t, dir)))
	}

	for i := range e.cleanups {
		before := len(j.Lines())
		undos, err := runner.Cleanup(ctx, dir, steps.NewPorts(nil, nil))
		if err != nil {
			t.Fatalf("Cleanup #%d: %v", i+1, err)
		}
		res.Cleanups = append(res.Cleanups, undos)
		fmt.Fprintf(&sum, "drill cleanup #%d:\n%s", i+1, indent(undoLines(undos)))
		fmt.Fprintf(&sum, "  journal:\n%s", indent(indentLines(j.Lines()[before:])))
		fmt.Fprintf(&sum, "  pending:\n%s", indent(indentLines(pending(t, dir))))
	}

	got := strings.ReplaceAll(sum.String(), dir, "STATEDIR")
	golden.Check(t, filepath.Join("testdata", "executor", e.name+".golden"), []byte(got))
	if e.check != nil {
		e.check(t, res)
	}
}

var durationRE = regexp.MustCompile(`\b(passed|failed|error|ignored|skipped) in [0-9.]+(ns|µs|ms|s|m[0-9.]*s?|h[0-9hms.]*)`)

// summarizeRun is the run without its times: statuses, messages, undo rows,
// checks and the timeline.
func summarizeRun(run *report.Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run: interrupted=%v exit=%d\n", run.Interrupted, run.ExitCode())
	for _, s := range run.Scenarios {
		fmt.Fprintf(&b, "scenario %q: passed=%v\n", s.Label(), s.Passed())
		if s.Aborted != "" {
			fmt.Fprintf(&b, "aborted: %s\n", s.Aborted)
		}
		for _, phase := range []struct {
			name  string
			steps []*report.Step
		}{{"steps", s.Steps}, {"cleanup", s.Cleanup}} {
			fmt.Fprintf(&b, "%s:\n", phase.name)
			var lines []string
			for _, st := range phase.steps {
				lines = append(lines, fmt.Sprintf("%-8s %s (%s)%s", st.Status, st.Name, st.Kind, suffix(st.Message)))
			}
			b.WriteString(indent(lines))
		}
		fmt.Fprintf(&b, "undo:\n%s", indent(undoLines(s.Undo)))
		var checks []string
		for _, c := range s.Checks {
			checks = append(checks, fmt.Sprintf("%-8s %s%s", c.Status, c.Name, suffix(c.Message)))
		}
		fmt.Fprintf(&b, "checks:\n%s", indent(checks))
		var events []string
		for _, ev := range s.Events {
			msg := durationRE.ReplaceAllString(ev.Message, "$1 in DUR")
			if ev.Step != "" {
				events = append(events, fmt.Sprintf("%s [%s] %s", ev.Type, ev.Step, msg))
			} else {
				events = append(events, fmt.Sprintf("%s %s", ev.Type, msg))
			}
		}
		fmt.Fprintf(&b, "events:\n%s", indent(events))
	}
	for _, s := range run.Series {
		fmt.Fprintf(&b, "series %q: %d of %d runs passed\n", s.Label(), s.Passed, s.Runs)
		var stats []string
		for _, st := range s.Stats {
			stats = append(stats, fmt.Sprintf("%s: count %d min %v median %v p95 %v max %v mean %v", st.Name, st.Count, st.Min, st.Median, st.P95, st.Max, st.Mean))
		}
		fmt.Fprintf(&b, "stats:\n%s", indent(stats))
		var checks []string
		for _, c := range s.Checks {
			checks = append(checks, fmt.Sprintf("%-8s %s%s", c.Status, c.Name, suffix(c.Message)))
		}
		fmt.Fprintf(&b, "checks over the runs:\n%s", indent(checks))
	}
	return b.String()
}

func undoLines(undos []*report.Undo) []string {
	var out []string
	for _, u := range undos {
		out = append(out, fmt.Sprintf("%-8s %s [%s]%s", u.Status, u.Fault, u.Step, suffix(u.Message)))
	}
	return out
}

func pending(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := fault.Pending(dir)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s %s [%s]", e.State, e.Desc, e.Step))
	}
	return out
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "  (none)\n"
	}
	return "  " + strings.Join(lines, "\n  ") + "\n"
}

func indentLines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "  " + l
	}
	if len(lines) == 0 {
		return []string{"  (none)"}
	}
	return out
}

// journalWant fails unless the journal is exactly want.
func journalWant(t *testing.T, r *ExecutorResult, want ...string) {
	t.Helper()
	if got := r.Journal.Lines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("journal:\ngot  %q\nwant %q", got, want)
	}
}

func undoStatuses(undos []*report.Undo) string {
	var out []string
	for _, u := range undos {
		out = append(out, u.Fault+"="+string(u.Status))
	}
	return strings.Join(out, ", ")
}

func pendingCount(t *testing.T, dir string) int {
	t.Helper()
	return len(pending(t, dir))
}

// (a) Three faults are undone newest first, before the cleanup steps run;
// the scenario passes and leaves nothing in the state directory.
func TestExecutorUndoOrder(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("undo-order"),
		WithScenario(`
name: undo order
vars:
  limit: 3
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: fault b, kind: test.fault, fault: b}
  - {name: fault c, kind: test.fault, fault: c}
cleanup:
  - {name: tidy, kind: test.note, text: cleanup ran}
checks:
  - vars.limit == 3
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "apply b", "apply c", "undo c", "undo b", "undo a", "note cleanup ran")
			sc := r.Run.Scenarios[0]
			if !sc.Passed() || r.Run.ExitCode() != report.ExitPassed {
				t.Errorf("the scenario did not pass (exit %d)", r.Run.ExitCode())
			}
			if got := undoStatuses(sc.Undo); got != "fake fault c=passed, fake fault b=passed, fake fault a=passed" {
				t.Errorf("undo rows: %s", got)
			}
			if n := pendingCount(t, r.StateDir); n != 0 {
				t.Errorf("%d faults left in the ledger", n)
			}
			if files, _ := filepath.Glob(filepath.Join(r.StateDir, "ledger-*.jsonl")); len(files) != 0 {
				t.Errorf("ledger files left: %q", files)
			}
		}),
	)
}

// (b) A kept fault is not undone: its undo row is skipped, it stays in the
// ledger, and drill cleanup undoes it later.
func TestExecutorKeep(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("keep"),
		WithScenario(`
name: keep
steps:
  - {name: fault a, kind: test.fault, fault: a, keep: true}
  - {name: fault b, kind: test.fault, fault: b}
`),
		WithCleanupRuns(2),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "apply b", "undo b", "undo a")
			sc := r.Run.Scenarios[0]
			if got := undoStatuses(sc.Undo); got != "fake fault b=passed, fake fault a=skipped" {
				t.Errorf("undo rows: %s", got)
			}
			if len(sc.Undo) == 2 && !strings.Contains(sc.Undo[1].Message, "drill cleanup --state-dir "+r.StateDir) {
				t.Errorf("the kept fault's message %q does not say how to undo it", sc.Undo[1].Message)
			}
			if !sc.Passed() {
				t.Error("a scenario that keeps a fault on purpose should still pass")
			}
			if got := undoStatuses(r.Cleanups[0]); got != "fake fault a=passed" {
				t.Errorf("drill cleanup: %s", got)
			}
			if len(r.Cleanups[1]) != 0 {
				t.Errorf("a second drill cleanup undid %s", undoStatuses(r.Cleanups[1]))
			}
		}),
	)
}

// (c) A failed step after a fault: the remaining steps are skipped, the
// fault is undone before the cleanup steps, which still run (and what they
// inject is undone after them); the checks are skipped.
func TestExecutorFailedStep(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("failed-step"),
		WithScenario(`
name: failed step
vars:
  limit: 3
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: break, kind: test.fail, message: the database is on fire}
  - {name: fault b, kind: test.fault, fault: b}
cleanup:
  - {name: tidy, kind: test.note, text: cleanup ran}
  - {name: cleanup fault, kind: test.fault, fault: z}
  - {name: tidy again, kind: test.note, text: cleanup went on}
checks:
  - vars.limit == 3
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "fail", "undo a", "note cleanup ran", "apply z", "note cleanup went on", "undo z")
			sc := r.Run.Scenarios[0]
			if sc.Steps[1].Status != report.Error || sc.Steps[2].Status != report.Skipped {
				t.Errorf("steps: %s, %s; want error then skipped", sc.Steps[1].Status, sc.Steps[2].Status)
			}
			if r.Run.ExitCode() != report.ExitError {
				t.Errorf("exit %d, want %d", r.Run.ExitCode(), report.ExitError)
			}
		}),
	)
}

// (d) A step that runs out of time: the error says it timed out, the rest
// is skipped, the fault is undone.
func TestExecutorStepTimeout(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("step-timeout"),
		WithScenario(`
name: step timeout
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: hang, kind: test.block, timeout: 50ms}
  - {name: after, kind: test.note, text: should not run}
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "block", "unblocked: context deadline exceeded", "undo a")
			st := r.Run.Scenarios[0].Steps[1]
			if st.Status != report.Error || !strings.Contains(st.Message, "timed out after 50ms") {
				t.Errorf("the blocked step: %s %q, want an error saying it timed out", st.Status, st.Message)
			}
			if r.Run.Interrupted {
				t.Error("a step timeout is not an interrupt")
			}
		}),
	)
}

// TestExecutorCleanupTimeoutDeclared: a cleanup step's declared timeout is
// not cut short by the undo budget (Options.CleanupTimeout): the cleanup
// budget is the undo budget plus the cleanup steps' own limits.
func TestExecutorCleanupTimeoutDeclared(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("cleanup-timeout"),
		WithOptions(func(o *runner.Options) { o.CleanupTimeout = 50 * time.Millisecond }),
		WithScenario(`
name: cleanup timeout
steps:
  - {name: fault a, kind: test.fault, fault: a}
cleanup:
  - {name: long wait, kind: test.block, timeout: 300ms}
  - {name: after, kind: test.note, text: cleanup went on}
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			st := r.Run.Scenarios[0].Cleanup[0]
			if st.Status != report.Error || !strings.Contains(st.Message, "timed out after 300ms") || st.Duration < 300*time.Millisecond {
				t.Errorf("the cleanup step: %s after %s %q, want its own 300ms limit", st.Status, st.Duration, st.Message)
			}
			if st := r.Run.Scenarios[0].Cleanup[1]; st.Status != report.Passed {
				t.Errorf("the next cleanup step: %s %q, want passed", st.Status, st.Message)
			}
		}),
	)
}

// (e) Ctrl-C during a step, after a fault: the run is interrupted, the rest
// is skipped, and the fault is undone and the cleanup steps run under a
// context the interrupt did not cancel.
func TestExecutorInterrupt(t *testing.T) {
	t.Parallel()
	var console bytes.Buffer
	NewExecutorTest(t,
		WithName("interrupt"),
		WithInterruptible(),
		WithOptions(func(o *runner.Options) { o.Observer = &report.Console{W: &console, Mask: report.NewMasker(nil)} }),
		WithScenario(`
name: interrupt
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: ctrl-c, kind: test.interrupt}
  - {name: fault b, kind: test.fault, fault: b}
cleanup:
  - {name: tidy, kind: test.note, text: cleanup ran}
checks:
  - true
`),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "ctrl-c", "undo a", "note cleanup ran")
			if !r.Run.Interrupted || r.Run.ExitCode() != report.ExitInterrupted {
				t.Errorf("interrupted=%v exit=%d, want true and %d", r.Run.Interrupted, r.Run.ExitCode(), report.ExitInterrupted)
			}
			if got := undoStatuses(r.Run.Scenarios[0].Undo); got != "fake fault a=passed" {
				t.Errorf("undo rows: %s", got)
			}
			// The console tells it in the order it happened: the undo, then cleanup.
			out := console.String()
			undo, tidy := strings.Index(out, "undo: fake fault a"), strings.Index(out, "cleanup: tidy")
			if undo < 0 || tidy < 0 || undo > tidy {
				t.Errorf("the console does not print the undo before the cleanup step:\n%s", out)
			}
		}),
	)
}

// (e') Ctrl-C while a step blocks, pressed from outside the run once the
// step has started (the observer says so): the blocked step ends at once.
func TestExecutorInterruptBlockedStep(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var cancel context.CancelCauseFunc
	NewExecutorTest(t,
		WithName("interrupt-blocked"),
		WithOptions(func(o *runner.Options) {
			o.Observer = &startObserver{step: "hang", started: started}
		}),
		WithScenario(`
name: interrupt blocked
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: hang, kind: test.block}
  - {name: fault b, kind: test.fault, fault: b}
`),
		withRunContext(func(ctx context.Context) context.Context {
			ctx, cancel = context.WithCancelCause(ctx)
			go func() {
				<-started
				cancel(runner.ErrInterrupted)
			}()
			return ctx
		}),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "block", "unblocked: context canceled", "undo a")
			if !r.Run.Interrupted {
				t.Error("run.Interrupted is false")
			}
		}),
	)
}

// startObserver closes started when the named step starts.
type startObserver struct {
	step    string
	started chan struct{}
	once    sync.Once
}

func (o *startObserver) ScenarioStarted(*report.Scenario) {}
func (o *startObserver) StepStarted(s *report.Step) {
	if s.Name == o.step {
		o.once.Do(func() { close(o.started) })
	}
}
func (o *startObserver) StepProgress(*report.Step, string)   {}
func (o *startObserver) StepFinished(*report.Step)           {}
func (o *startObserver) UndoFinished(*report.Undo)           {}
func (o *startObserver) ScenarioFinished(s *report.Scenario) {}

// (f) drill cleanup after drill was killed with faults in place: the Log
// wrote them to the ledger, UndoAll never ran. Cleanup undoes them newest
// first; a second cleanup has nothing to do.
func TestExecutorCleanupAfterCrash(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("cleanup-after-crash"),
		WithBefore(func(t *testing.T, dir, key string) string {
			j := faulttest.Of(key)
			log := fault.NewLog(dir, "crashed", steps.NewPorts(nil, nil), nil)
			for i, name := range []string{"a", "b", "c"} {
				rec := log.For("fault "+name, fmt.Sprintf("%s:%d:5", key, i+3))
				err := rec.Inject(context.Background(), fault.Fault{
					Desc: "fake fault " + name, Target: name,
					Undo: fault.NewAction(fakeUndoOp, faulttest.UndoArgs{Journal: key, Name: name}),
				}, func(context.Context) error {
					j.Add("apply %s", name)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			// drill is killed here: no UndoAll.
			return "killed, leaving in the ledger:\n" + indent(pending(t, dir))
		}),
		WithCleanupRuns(2),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "apply b", "apply c", "undo c", "undo b", "undo a")
			if got := undoStatuses(r.Cleanups[0]); got != "fake fault c=passed, fake fault b=passed, fake fault a=passed" {
				t.Errorf("drill cleanup: %s", got)
			}
			if len(r.Cleanups[1]) != 0 {
				t.Errorf("a second drill cleanup undid %s", undoStatuses(r.Cleanups[1]))
			}
		}),
	)
}

// (f') Undos that fail when the run ends leave their faults in the ledger:
// the undo rows are errors that point at drill cleanup, which undoes them
// newest first; a second cleanup has nothing to do.
func TestExecutorCleanupAfterFailedUndo(t *testing.T) {
	t.Parallel()
	NewExecutorTest(t,
		WithName("cleanup-after-failed-undo"),
		WithScenario(`
name: failed undo
steps:
  - {name: fault a, kind: test.fault, fault: a}
  - {name: fault b, kind: test.fault, fault: b, fail_undo: 1}
  - {name: fault c, kind: test.fault, fault: c, fail_undo: 1, fail_apply: true}
`),
		WithCleanupRuns(2),
		WithCheck(func(t *testing.T, r *ExecutorResult) {
			journalWant(t, r, "apply a", "apply b", "apply c failed", "undo c failed", "undo b failed", "undo a", "undo c", "undo b")
			sc := r.Run.Scenarios[0]
			if got := undoStatuses(sc.Undo); got != "fake fault c=error, fake fault b=error, fake fault a=passed" {
				t.Errorf("undo rows: %s", got)
			}
			for _, u := range sc.Undo[:2] {
				if !strings.Contains(u.Message, "drill cleanup --state-dir "+r.StateDir) {
					t.Errorf("undo row %q: message %q does not point at drill cleanup", u.Fault, u.Message)
				}
			}
			if got := undoStatuses(r.Cleanups[0]); got != "fake fault c=passed, fake fault b=passed" {
				t.Errorf("drill cleanup: %s", got)
			}
			if len(r.Cleanups[1]) != 0 {
				t.Errorf("a second drill cleanup undid %s", undoStatuses(r.Cleanups[1]))
			}
		}),
	)
}
