package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/timeline"
	"github.com/drill-dev/drill/steps"
)

// Observer is told about a run as it happens (the console's live lines).
type Observer interface {
	ScenarioStarted(s *report.Scenario)
	StepStarted(s *report.Step)
	StepProgress(s *report.Step, msg string)
	StepFinished(s *report.Step)
	// UndoFinished reports the undo of one fault, when it happened: the
	// run's faults are undone before the cleanup steps run, and what those
	// injected after them.
	UndoFinished(u *report.Undo)
	ScenarioFinished(s *report.Scenario)
}

// Options configure a run.
type Options struct {
	Observer Observer
	Logger   *slog.Logger
	// StateDir holds the fault ledger (default .drill).
	StateDir string
	// FailFast stops after the first scenario that does not pass.
	FailFast bool
	// NewPorts returns the outside systems of a scenario's cluster (default:
	// steps.NewPorts); tests may give fakes.
	NewPorts func(c *cluster.Cluster, log *slog.Logger) *steps.Ports
	// CleanupTimeout bounds stopping background tasks and undoing faults
	// after the steps (default 2 minutes). The cleanup steps get their own
	// declared time limits on top: see cleanupBudget.
	CleanupTimeout time.Duration
	// Repeat runs each scenario this many times (drill run --repeat; 0 or
	// 1: once). Each run undoes its faults and runs its cleanup steps as
	// any run does; after the last, the checks over the runs are evaluated
	// (see runSeries).
	Repeat int
}

// SeriesObserver is an Observer that is also told when the runs of a
// series are over (drill run --repeat).
type SeriesObserver interface {
	SeriesFinished(s *report.Series)
}

// StepTimeoutError is a step that ran out of time.
type StepTimeoutError struct {
	Step  string
	Pos   dsl.Pos
	Limit time.Duration
}

func (e *StepTimeoutError) Error() string {
	return fmt.Sprintf("step %q (%s) timed out after %s", e.Step, e.Pos, e.Limit)
}

// maxLog caps the log kept per step.
const maxLog = 64 << 10

// Run runs the loaded scenarios in order. ctx is the run's root context:
// when it is cancelled (Ctrl-C), the current step stops, the rest are
// skipped, and cleanup and undo still run under a fresh context.
func Run(ctx context.Context, loaded []*Loaded, opts Options) *report.Run {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StateDir == "" {
		opts.StateDir = ".drill"
	}
	if opts.CleanupTimeout == 0 {
		opts.CleanupTimeout = 2 * time.Minute
	}
	opts.Repeat = max(opts.Repeat, 1)
	run := &report.Run{Started: time.Now()}
	stop := ""
	for _, l := range loaded {
		var runs []*report.Scenario
		for n := range opts.Repeat {
			var res *report.Scenario
			if stop != "" {
				res = skippedScenario(l, stop, n+1, opts.Repeat)
				observeSkipped(opts.Observer, res)
			} else {
				res = runScenario(ctx, l, opts, n+1)
			}
			run.Scenarios = append(run.Scenarios, res)
			runs = append(runs, res)
			switch {
			case ctx.Err() != nil && stop == "":
				run.Interrupted = errors.Is(context.Cause(ctx), ErrInterrupted)
				stop = "run stopped: " + causeText(ctx)
			case opts.FailFast && !res.Passed() && stop == "":
				stop = fmt.Sprintf("--fail-fast: scenario %q did not pass", res.Label())
			}
		}
		if opts.Repeat > 1 {
			run.Series = append(run.Series, runSeries(l, runs, stop, opts.Observer))
		}
	}
	run.Finished = time.Now()
	return run
}

// ErrInterrupted is the cause of a root context cancelled by Ctrl-C or
// SIGTERM.
var ErrInterrupted = errors.New("interrupted")

func causeText(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil {
		return c.Error()
	}
	return ctx.Err().Error()
}

// scenarioRun is the state of one scenario while it runs.
type scenarioRun struct {
	l     *Loaded
	opts  Options
	res   *report.Scenario
	store *metric.Store
	bg    *steps.Background
	ports *steps.Ports
	// deadline is the root context's deadline (zero: none).
	deadline time.Time
	faults   *fault.Log
	mu       sync.Mutex // guards res.Events
	// skip is why the rest is skipped after an abort: short, pointing at
	// the failed step, whose whole error is printed once, on its own line
	skip string
	// abort cancels the steps' context when a guard trips (steps.Env.Abort).
	abort func(err error)
	// timeline collects the series of the HTML report's timeline
	timeline *timeline.Recorder
	tripMu   sync.Mutex
	tripped  *steps.TrippedError // the first guard that tripped
}

// trip records the first guard that tripped and stops the steps at once;
// the faults are then undone on the normal path.
func (r *scenarioRun) trip(err error, cancel context.CancelCauseFunc) {
	var t *steps.TrippedError
	if !errors.As(err, &t) {
		t = &steps.TrippedError{Guard: "?", Expr: err.Error(), At: time.Now()}
	}
	r.tripMu.Lock()
	first := r.tripped == nil
	if first {
		r.tripped = t
	}
	r.tripMu.Unlock()
	if first {
		r.event("guard.trip", t.Guard, "%v", t)
		cancel(t)
	}
}

// trippedGuard is the guard that tripped, or nil.
func (r *scenarioRun) trippedGuard() *steps.TrippedError {
	r.tripMu.Lock()
	defer r.tripMu.Unlock()
	return r.tripped
}

// abortReason says why the steps stopped: the guard that tripped, or the
// root context's cause (Ctrl-C), as the scenario's reason and as the short
// reason of each skipped step.
func (r *scenarioRun) abortReason(ctx context.Context) (aborted, skip string) {
	if t := r.trippedGuard(); t != nil {
		return t.Error(), fmt.Sprintf("guard %q tripped, see above", t.Guard)
	}
	return causeText(ctx), causeText(ctx)
}

func (r *scenarioRun) event(typ, step, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Events = append(r.res.Events, report.Event{At: time.Now(), Type: typ, Step: step, Message: fmt.Sprintf(format, args...)})
}

// newScenarioResult starts the result of run n of runs (n is 1 and runs 1
// without --repeat).
func newScenarioResult(l *Loaded, n, runs int) *report.Scenario {
	sc := l.Scenario
	res := &report.Scenario{Name: sc.Name, File: sc.File, Description: sc.Description, Tags: sc.Tags, Started: time.Now(), Matrix: l.Matrix}
	if runs > 1 {
		res.Run, res.Runs = n, runs
	}
	return res
}

func skippedScenario(l *Loaded, reason string, n, runs int) *report.Scenario {
	res := newScenarioResult(l, n, runs)
	res.Aborted = reason
	skipAll(res, l, reason, runs)
	res.Finished = res.Started
	return res
}

// skipAll records every step and check of l as skipped for reason (the
// cleanup steps too when none of the steps ran because of requires); runs
// is the number of runs of --repeat.
func skipAll(res *report.Scenario, l *Loaded, reason string, runs int) {
	for _, b := range l.Steps {
		res.Steps = append(res.Steps, skippedStep(b, "steps", reason))
	}
	if res.Skipped != "" || res.Error != "" {
		for _, b := range l.Cleanup {
			res.Cleanup = append(res.Cleanup, skippedStep(b, "cleanup", reason))
		}
	}
	for _, c := range l.runChecks(runs) {
		res.Checks = append(res.Checks, &report.Check{Name: c.Spec.Name, Expr: c.Spec.Expr, Pos: c.Spec.Pos, Status: report.Skipped, Message: reason})
	}
}

// observeSkipped tells the observer about a scenario that did not run, so
// that the console says it was skipped and why.
func observeSkipped(o Observer, res *report.Scenario) {
	if o == nil {
		return
	}
	o.ScenarioStarted(res)
	for _, st := range res.Steps {
		o.StepFinished(st)
	}
	o.ScenarioFinished(res)
}

func stepResult(b *steps.Built, phase string) *report.Step {
	return &report.Step{ID: b.Spec.ID, Name: b.Spec.Name, Kind: b.Spec.Kind, Pos: b.Spec.Pos, Phase: phase}
}

func skippedStep(b *steps.Built, phase, reason string) *report.Step {
	s := stepResult(b, phase)
	s.Status, s.Message, s.Started = report.Skipped, reason, time.Now()
	return s
}

// runScenario runs l once: run n of opts.Repeat.
func runScenario(ctx context.Context, l *Loaded, opts Options, n int) *report.Scenario {
	r := &scenarioRun{l: l, opts: opts, res: newScenarioResult(l, n, opts.Repeat), store: metric.NewStore(), bg: &steps.Background{}, timeline: &timeline.Recorder{}}
	newPorts := opts.NewPorts
	if newPorts == nil {
		newPorts = steps.NewPorts
	}
	r.ports = newPorts(l.Cluster, opts.Logger)
	r.deadline, _ = ctx.Deadline()
	defer r.ports.Close()
	r.faults = fault.NewLog(opts.StateDir, l.Scenario.Name, r.ports, func(e fault.Event) { r.event(e.Kind, e.Step, "%s", e.Msg) })
	if opts.Observer != nil {
		opts.Observer.ScenarioStarted(r.res)
	}
	r.event("scenario.start", "", "%s (%s)", l.Scenario.Name, l.Scenario.File)
	opts.Logger.DebugContext(ctx, "scenario start", "scenario", l.Scenario.Name, "file", l.Scenario.File)
	if r.platformRefuses(ctx) || r.forwardsFail(ctx) || r.unmetRequires(ctx) {
		return r.res
	}
	observe := r.observeCluster(ctx)

	// The steps run under a context a tripped guard cancels; cleanup and
	// undo do not.
	stepsCtx, cancelSteps := context.WithCancelCause(ctx)
	defer cancelSteps(nil)
	r.abort = func(err error) { r.trip(err, cancelSteps) }
	r.runSteps(stepsCtx)

	// Whatever happened, finish under a context the interrupt does not
	// cancel.
	finish, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupBudget(l.Cleanup, r.opts.CleanupTimeout))
	defer cancel()
	// Faults are undone before the cleanup steps run, so that cleanup sees
	// the cluster restored (e.g. waits until the old leader has rejoined).
	// Whatever a cleanup step itself injects is undone after it.
	r.stopBackground(finish)
	r.undoAll(finish)
	for _, b := range l.Cleanup {
		r.res.Cleanup = append(r.res.Cleanup, r.runStep(finish, b, "cleanup"))
	}
	r.stopBackground(finish) // what the cleanup steps started
	r.undoAll(finish)
	observe()
	r.evaluateChecks()
	r.res.Metrics = r.store.All()
	r.res.Timeline = r.timeline.Timeline()
	r.res.Finished = time.Now()
	r.event("scenario.end", "", "%s", outcome(r.res))
	opts.Logger.DebugContext(finish, "scenario end", "scenario", l.Scenario.Name, "outcome", outcome(r.res))
	if opts.Observer != nil {
		opts.Observer.ScenarioFinished(r.res)
	}
	return r.res
}

// unmetRequires checks the scenario's requires against the cluster's
// versions and, when they are not met or cannot be read, records the
// scenario as skipped (or in error) without running anything: it then
// reports true.
func (r *scenarioRun) unmetRequires(ctx context.Context) bool {
	why, versions, err := unmet(ctx, r.ports, r.l.Scenario.Requires)
	r.res.Versions = versions
	reason := ""
	switch {
	case err != nil:
		r.res.Error = err.Error()
		reason = "requires could not be checked"
	case why != "":
		r.res.Skipped = why
		reason = why
	default:
		if len(versions) > 0 {
			r.event("requires", "", "met: the cluster runs %s", describeVersions(versions))
		}
		return false
	}
	r.endUnrun("requires", reason)
	return true
}

// endUnrun records every step as not run for reason, and the scenario as
// finished; the event of the given kind says why (the result's error or
// skip reason).
func (r *scenarioRun) endUnrun(kind, reason string) {
	skipAll(r.res, r.l, reason, r.opts.Repeat)
	r.event(kind, "", "%s", firstOf(r.res.Error, r.res.Skipped))
	if o := r.opts.Observer; o != nil {
		for _, st := range append(append([]*report.Step(nil), r.res.Steps...), r.res.Cleanup...) {
			o.StepFinished(st)
		}
	}
	r.res.Finished = time.Now()
	r.event("scenario.end", "", "%s", outcome(r.res))
	if r.opts.Observer != nil {
		r.opts.Observer.ScenarioFinished(r.res)
	}
}

// platformRefuses runs the platform driver's Check, when it has one, with
// the capabilities the scenario's steps need, before any step: a refusal
// (a permission the platform lacks) ends the run in error with nothing
// touched, and it then reports true.
func (r *scenarioRun) platformRefuses(ctx context.Context) bool {
	driver, err := platform.Lookup(r.l.Cluster.Platform)
	if err != nil || driver.Check == nil {
		return false
	}
	var caps []platform.Capability
	for _, b := range slices.Concat(r.l.Steps, r.l.Cleanup) {
		for _, c := range b.Kind.Needs {
			if !slices.Contains(caps, c) {
				caps = append(caps, c)
			}
		}
	}
	if len(caps) == 0 {
		return false
	}
	pl, err := r.ports.Platform(ctx)
	if err == nil {
		err = driver.Check(ctx, pl, caps)
	}
	if err == nil {
		r.event("platform", "", "%s allows what the steps need", pl.Ref())
		return false
	}
	r.res.Error = err.Error()
	r.endUnrun("platform", "the platform refuses what the steps need")
	return true
}

// forwardsFail opens the port-forwards the cluster block asks for
// (kubernetes.port_forward) before anything reads its addresses; when they
// cannot open, the run ends in error with nothing touched, and it reports
// true.
func (r *scenarioRun) forwardsFail(ctx context.Context) bool {
	err := r.ports.OpenForwards(ctx)
	if err == nil {
		return false
	}
	r.res.Error = "port-forwards: " + err.Error()
	r.endUnrun("platform", "the port-forwards did not open")
	return true
}

// describeVersions is "Patroni 3.0.2, PostgreSQL 15.4".
func describeVersions(v map[string]string) string {
	var parts []string
	for _, c := range []string{"patroni", "postgres"} {
		if v[c] != "" {
			parts = append(parts, dsl.Components[c]+" "+v[c])
		}
	}
	return strings.Join(parts, ", ")
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// runSteps runs the scenario's steps in order; after a failed step, an
// interrupt or a tripped guard the rest are skipped, except the steps that
// stop a background task still running (writer.stop, watch.stop,
// guard.stop): they run in their place, under a context the stop does not
// cancel, so that what the task measured is counted and recorded.
func (r *scenarioRun) runSteps(ctx context.Context) {
	for i, b := range r.l.Steps {
		if r.res.Aborted == "" && ctx.Err() != nil {
			r.res.Aborted, r.skip = r.abortReason(ctx)
		}
		if r.res.Aborted != "" && r.settles(b) {
			r.event("settle", b.Spec.Name, "the run stopped early; stopping its background task to record what it measured")
			res := r.runStep(context.WithoutCancel(ctx), b, "steps")
			res.Settled = true
			r.res.Steps = append(r.res.Steps, res)
			continue
		}
		if r.res.Aborted != "" {
			skipped := skippedStep(b, "steps", r.skip)
			r.res.Steps = append(r.res.Steps, skipped)
			if r.opts.Observer != nil {
				r.opts.Observer.StepFinished(skipped)
			}
			continue
		}
		res := r.runStep(ctx, b, "steps")
		r.res.Steps = append(r.res.Steps, res)
		if res.Status == report.Error || res.Status == report.Failed {
			r.res.Aborted = fmt.Sprintf("step %d %q %s: %s", i+1, b.Spec.Name, res.Status, res.Message)
			r.skip = fmt.Sprintf("step %d %q %s, see above", i+1, b.Spec.Name, failedWord(res.Status))
			if ctx.Err() != nil {
				r.res.Aborted, r.skip = r.abortReason(ctx)
			}
		}
	}
	// A guard that tripped after the last step still fails the scenario.
	if t := r.trippedGuard(); t != nil && r.res.Aborted == "" {
		r.res.Aborted, r.skip = r.abortReason(ctx)
	}
}

// settles reports whether b stops a background task that is still running
// (see steps.Stopper), other than a guard that tripped: its trip is already
// the failed check named after it.
func (r *scenarioRun) settles(b *steps.Built) bool {
	st, ok := b.Step.(steps.Stopper)
	if !ok {
		return false
	}
	what, name := st.Stops()
	if t := r.trippedGuard(); what == steps.RefGuard && t != nil && t.Guard == name {
		return false
	}
	return slices.Contains(r.bg.Running(), name)
}

// undoAll undoes every open fault, reporting each undo as it comes.
func (r *scenarioRun) undoAll(ctx context.Context) {
	for _, u := range undoReport(r.faults.UndoAll(ctx)) {
		r.res.Undo = append(r.res.Undo, u)
		if r.opts.Observer != nil {
			r.opts.Observer.UndoFinished(u)
		}
	}
}

// failedWord says how a step that stopped the run ended, for the skip
// reason of what follows it.
func failedWord(s report.Status) string {
	if s == report.Error {
		return "failed with an error"
	}
	return "failed"
}

// cleanupBudget bounds everything after the steps: the undo budget plus
// what the cleanup steps may take under their declared limits, retries
// included, so that a cleanup step's timeout: is never cut short.
func cleanupBudget(cleanup []*steps.Built, undo time.Duration) time.Duration {
	total := undo
	for _, b := range cleanup {
		n := time.Duration(max(b.Spec.Retry.Attempts, 1))
		total += n*b.Timeout + (n-1)*b.Spec.Retry.Interval
	}
	return total
}

func outcome(s *report.Scenario) string {
	switch {
	case s.Skipped != "":
		return "skipped: " + s.Skipped
	case s.Error != "":
		return "error: " + s.Error
	}
	if s.Passed() {
		return "passed"
	}
	if s.Aborted != "" {
		return "aborted: " + s.Aborted
	}
	return "did not pass"
}

// runStep runs one step with its retries and time limit.
func (r *scenarioRun) runStep(ctx context.Context, b *steps.Built, phase string) *report.Step {
	res := stepResult(b, phase)
	res.Started = time.Now()
	if r.opts.Observer != nil {
		r.opts.Observer.StepStarted(res)
	}
	r.event("step.start", b.Spec.Name, "%s", b.Kind.Name)
	logger := r.opts.Logger.With("scenario", r.l.Scenario.Name, "step", b.Spec.Name)
	logger.DebugContext(ctx, "step start", "kind", b.Kind.Name, "phase", phase, "pos", b.Spec.Pos.String(), "timeout", b.Timeout)
	var log bytes.Buffer
	env := &steps.Env{
		Step: b, Store: r.store, Vars: r.l.Vars,
		Logger: logger,
		Log:    &cappedWriter{buf: &log, limit: maxLog},
		Ports:  r.ports, Faults: r.faults.For(b.Spec.Name, b.Spec.Pos.String()), Background: r.bg,
		Timeline:    r.timeline,
		RunDeadline: r.deadline,
		Abort:       r.abort,
		Progress: func(msg string) {
			if r.opts.Observer != nil {
				r.opts.Observer.StepProgress(res, msg)
			}
		},
	}
	attempts := max(b.Spec.Retry.Attempts, 1)
	if b.Spec.ExpectError != nil {
		attempts = 1 // the failure is the point: trying again would hide it
	}
	var err error
	for res.Attempts = 1; ; res.Attempts++ {
		err = r.attempt(ctx, b, env)
		if err == nil || res.Attempts >= attempts || ctx.Err() != nil || isCheckFailure(err) || steps.IsPermanent(err) {
			break
		}
		env.Logf("attempt %d of %d failed: %v; retrying in %s", res.Attempts, attempts, err, b.Spec.Retry.Interval)
		select {
		case <-time.After(b.Spec.Retry.Interval):
		case <-ctx.Done():
		}
	}
	if b.Spec.ExpectError != nil && ctx.Err() == nil {
		err = expected(b.Spec, err, env)
	}
	if t := r.trippedGuard(); t != nil && err != nil && ctx.Err() != nil {
		// A guard tripped while this step ran: it was cancelled for it.
		env.Logf("cancelled: %v", err)
		err = t
	} else if errors.As(err, &t) && r.abort != nil {
		r.abort(t) // guard.start found its condition true at once
	}
	res.Duration = time.Since(res.Started)
	res.Log = log.String()
	switch {
	case err == nil:
		res.Status = report.Passed
	case b.Spec.ContinueOnError && ctx.Err() == nil:
		res.Status, res.Message = report.Ignored, err.Error()
	case isCheckFailure(err):
		res.Status, res.Message = report.Failed, err.Error()
	default:
		res.Status, res.Message = report.Error, err.Error()
	}
	r.event("step.end", b.Spec.Name, "%s in %s%s", res.Status, res.Duration.Round(time.Millisecond), suffix(res.Message))
	logger.DebugContext(ctx, "step end", "kind", b.Kind.Name, "status", string(res.Status), "duration", res.Duration, "attempts", res.Attempts, "message", res.Message)
	if r.opts.Observer != nil {
		r.opts.Observer.StepFinished(res)
	}
	return res
}

// expected turns the outcome of a step that must fail (expect_error) into
// its verdict: an error matching the pattern passes, success is a failed
// expectation (exit 1, like a check), another error stays an error.
func expected(spec *dsl.Step, err error, env *steps.Env) error {
	switch {
	case err == nil:
		return &steps.CheckFailedError{Expr: fmt.Sprintf("expect_error %q", spec.ExpectErrorText), Seen: "the step succeeded"}
	case spec.ExpectError.MatchString(err.Error()):
		env.Logf("failed as expected (expect_error %q): %v", spec.ExpectErrorText, err)
		return nil
	}
	return fmt.Errorf("failed, but not as expect_error %q says: %w", spec.ExpectErrorText, err)
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// isCheckFailure reports whether err is a false condition (a check, a
// guard): a failed drill, exit code 1.
func isCheckFailure(err error) bool {
	return errors.As(err, new(*steps.CheckFailedError)) || errors.As(err, new(*steps.TrippedError))
}

// attempt runs the step once under its time limit, turning a deadline into
// a *StepTimeoutError that names the step.
func (r *scenarioRun) attempt(ctx context.Context, b *steps.Built, env *steps.Env) (err error) {
	step, err := b.Resolve(env.Lookup)
	if err != nil {
		return err
	}
	stepCtx, cancel := context.WithTimeout(ctx, b.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("step crashed: %v", p)
		}
	}()
	err = step.Run(stepCtx, env)
	if err != nil && ctx.Err() == nil && errors.Is(stepCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", &StepTimeoutError{Step: b.Spec.Name, Pos: b.Spec.Pos, Limit: b.Timeout}, err)
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", causeText(ctx), err)
	}
	return err
}

// stopBackground stops the tasks no step stopped (a writer left running by
// a failed scenario), newest first.
func (r *scenarioRun) stopBackground(ctx context.Context) {
	for _, name := range r.bg.Running() {
		t, err := r.bg.Take(name)
		if err != nil {
			continue
		}
		if err := t.Close(ctx); err != nil {
			r.event("background.stop", name, "stopping %s: %v", name, err)
			continue
		}
		r.event("background.stop", name, "stopped %s at the end of the run", name)
	}
}

// evaluateChecks evaluates the end-of-run checks. After an early stop every
// check whose metrics were all measured is still evaluated; one that reads a
// metric no step recorded is skipped with the metrics it misses and why the
// run stopped. A guard that tripped comes first, as a failed check named
// after it.
func (r *scenarioRun) evaluateChecks() {
	if t := r.trippedGuard(); t != nil {
		r.res.Checks = append(r.res.Checks, &report.Check{Name: "guard " + t.Guard, Expr: t.Expr, Pos: t.Pos,
			Status: report.Failed, Message: t.Error(), Seen: t.Seen})
	}
	for _, c := range r.l.runChecks(r.opts.Repeat) {
		var out assertions.Result
		var err error
		if c.Check.Distribution() { // no --repeat: over this one run
			out, err = c.Check.EvalRuns([]assertions.Values{r.store}, r.l.Vars)
		} else {
			out, err = c.Check.Eval(r.store, r.l.Vars)
		}
		res := c.result(out, err)
		var missing *assertions.MissingError
		if r.res.Aborted != "" && errors.As(err, &missing) {
			res.Status = report.Skipped
			res.Message = fmt.Sprintf("not measured: %s (%s)", strings.Join(missing.Names, ", "), r.skip)
		}
		r.event("check", "", "%s: %s%s", c.Spec.Name, res.Status, suffix(res.Message))
		r.res.Checks = append(r.res.Checks, res)
	}
}

// result is the report of the check evaluated to out or err.
func (c *LoadedCheck) result(out assertions.Result, err error) *report.Check {
	res := &report.Check{Name: c.Spec.Name, Expr: c.Spec.Expr, Pos: c.Spec.Pos, Seen: out.Seen}
	switch {
	case err != nil:
		res.Status, res.Message = report.Error, err.Error()
	case out.OK:
		res.Status = report.Passed
	default:
		res.Status = report.Failed
		res.Message = c.Spec.Expr
		if s := out.SeenString(); s != "" {
			res.Message += ": " + s
		}
		if c.Spec.Message != "" {
			res.Message += " (" + c.Spec.Message + ")"
		}
	}
	return res
}

// cappedWriter keeps the first limit bytes and notes what it dropped.
type cappedWriter struct {
	mu      sync.Mutex
	buf     *bytes.Buffer
	limit   int
	dropped int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.limit - w.buf.Len()
	if room >= len(p) {
		return w.buf.Write(p)
	}
	if room > 0 {
		w.buf.Write(p[:room])
	}
	if w.dropped == 0 {
		w.buf.WriteString("\n[log truncated]\n")
	}
	w.dropped += len(p) - max(room, 0)
	return len(p), nil
}
