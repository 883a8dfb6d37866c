package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

// The guard kinds: a condition watched in the background that fails the
// run at once when it becomes true.

// guardMetrics are what guard.stop records, and what the runner's stop of a
// guard no step stopped records under the guard.start step's id.
var guardMetrics = []metric.Spec{
	{Name: "evaluations", Type: metric.Number, Doc: "how many times expr was evaluated"},
	{Name: "failed_evaluations", Type: metric.Number, Doc: "evaluations that could not be made: the poll step failed or a metric expr reads was not recorded (not counted as true)"},
	{Name: "tripped", Type: metric.Bool, Doc: "whether expr became true"},
	{Name: "tripped_at", Type: metric.Time, Doc: "when expr was seen true (only when tripped)", Resolution: "the interval"},
	{Name: "seen", Type: metric.String, Doc: "the values expr read when it tripped, else at its last evaluation"},
	{Name: "guarded_s", Type: metric.Number, Doc: "seconds from guard.start until the guard stopped"},
}

func init() {
	steps.Register(steps.Kind{
		Name:    "guard.start",
		Summary: "watch a condition in the background that must never become true",
		Doc: "Evaluates expr once at once (the step fails if it is true already, or cannot be evaluated) and then every " +
			"interval in the background until guard.stop or the end of the scenario. As soon as expr is true, the run " +
			"fails at once: the running step is cancelled (a fault it is applying is applied to its end first), the " +
			"remaining steps and the checks are skipped, the faults are undone, and the report has a failed check named after the guard with the values seen (exit code 1). " +
			"expr reads the metrics recorded so far: names recorded before guard.start, with their latest values, also " +
			"when a later step records them again; with poll, the given step runs before each evaluation and expr can " +
			"use what it records (a live reading, e.g. pg.lag or sql.query on: all). The poll step's metrics stay the " +
			"guard's own: other steps and the checks do not see them. Background watchers (watch.*) publish their " +
			"results only at watch.stop; a guard cannot read them live: poll a reading instead. A metric not recorded " +
			"yet, or a failed poll, is not a trip: it is counted in failed_evaluations.",
		Example: "kind: guard.start\nguard: lag\nexpr: lag_mb > 16\ninterval: 500ms\npoll:\n  kind: pg.lag\nmessage: replication fell behind during the load",
		New:     func() steps.Step { return &GuardStart{Name: "guard", Interval: time.Second} },
		Timeout: 30 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "guard.stop",
		Summary: "stop a guard and record what it saw",
		Doc: "Stops the guard and records how often it evaluated its condition. A guard not stopped by guard.stop is " +
			"stopped when the scenario ends (it records the same metrics under its guard.start step's id, for the report).",
		Example: "kind: guard.stop\nguard: lag",
		New:     func() steps.Step { return &GuardStop{Name: "guard"} },
		Timeout: time.Minute,
		Metrics: guardMetrics,
	})
}

// GuardStart starts a guard.
type GuardStart struct {
	Name     string        `yaml:"guard" doc:"name of this guard, for guard.stop and the report"`
	Expr     string        `yaml:"expr" required:"true" doc:"the condition that must never become true, e.g. lag_mb > 16"`
	Interval time.Duration `yaml:"interval" doc:"time between evaluations"`
	Poll     *yaml.Node    `yaml:"poll" doc:"a step that only reads (no fault), run before each evaluation; expr can use its metrics"`
	Message  string        `yaml:"message" doc:"what a trip means, shown with the values seen"`

	check *assertions.Check
	poll  *steps.Built
}

// Validate checks the interval and the name.
func (g *GuardStart) Validate() error {
	if g.Name == "" {
		return steps.FieldErrorf("guard", "must name the guard, for guard.stop and the report")
	}
	if g.Interval < 10*time.Millisecond {
		return steps.FieldErrorf("interval", "must be at least 10ms")
	}
	return nil
}

// Build builds the poll step, which must not inject a fault, and compiles
// expr against the metrics before this step plus the poll step's.
func (g *GuardStart) Build(bc *steps.BuildContext) error {
	var err error
	g.check, g.poll, err = compilePolled(bc, "expr", g.Expr, g.Poll, true)
	return err
}

// Starts names the guard for guard.stop.
func (g *GuardStart) Starts() (string, string) { return steps.RefGuard, g.Name }

// Run evaluates expr once and starts the background guard.
func (g *GuardStart) Run(ctx context.Context, env *steps.Env) error {
	t := &guardTask{spec: g, main: env.Store, lookup: env.Lookup, key: env.Step.Key, started: time.Now(), done: make(chan struct{})}
	// The poll step records into the guard's own store, and the guard's log
	// outlives this step's.
	t.env = *env
	t.env.Store, t.env.Log, t.env.Progress, t.env.Abort = metric.NewStore(), &t.log, nil, nil
	trip, err := t.evaluate(ctx)
	if err != nil {
		return fmt.Errorf("the guard cannot evaluate its condition: %w", err)
	}
	if trip != nil {
		return trip
	}
	env.Logf("%s is false: %s", g.Expr, t.values()["seen"])
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel = cancel
	if err := env.Background.Start(g.Name, t); err != nil {
		cancel()
		return err
	}
	go t.watch(bg, env)
	env.Logf("guard %s: %s must stay false, evaluated every %s", g.Name, g.Expr, g.Interval)
	return nil
}

// guardTask is a running guard.
type guardTask struct {
	spec    *GuardStart
	env     steps.Env // what the poll step and the evaluations see
	main    *metric.Store
	lookup  func(dsl.Ref) (string, bool) // ${step.metric} in the poll step, from the run's metrics
	key     string                       // the guard.start step's id
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	log     syncLog

	mu          sync.Mutex
	evaluations int
	failed      int
	trip        *steps.TrippedError
	lastSeen    string
	stoppedAt   time.Time
}

// evaluate runs the poll step and evaluates expr once, counting it when it
// was made. It returns the trip when expr is true, or why the evaluation
// could not be made (the caller counts that).
func (t *guardTask) evaluate(ctx context.Context) (*steps.TrippedError, error) {
	if t.spec.poll != nil {
		if err := runPoll(ctx, &t.env, t.spec.poll, t.lookup); err != nil {
			return nil, fmt.Errorf("poll step: %w", err)
		}
	}
	res, err := t.spec.check.Eval(overlay{own: t.env.Store, base: t.main}, t.env.Vars)
	if err != nil {
		return nil, err
	}
	t.count(true, res.SeenString())
	if !res.OK {
		return nil, nil
	}
	trip := &steps.TrippedError{Guard: t.spec.Name, Pos: t.env.Step.Spec.Pos, Expr: t.spec.Expr, Seen: res.Seen, At: time.Now(), Message: t.spec.Message}
	t.mu.Lock()
	t.trip = trip
	t.mu.Unlock()
	t.log.Printf("tripped at %s: %v", trip.At.UTC().Format(time.RFC3339Nano), trip)
	return trip, nil
}

func (t *guardTask) count(ok bool, seen string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.evaluations++
		t.lastSeen = seen
	} else {
		t.failed++
	}
}

// watch evaluates every interval until stopped or tripped; a trip aborts
// the run through env.Abort.
func (t *guardTask) watch(ctx context.Context, env *steps.Env) {
	defer close(t.done)
	tick := time.NewTicker(t.spec.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		trip, err := t.evaluate(ctx)
		switch {
		case ctx.Err() != nil:
			return // stopped while evaluating: not a failed evaluation
		case err != nil:
			t.count(false, "")
			if errors.As(err, new(*assertions.MissingError)) {
				t.log.Printf("%.1f s: %v", time.Since(t.started).Seconds(), err)
			} else {
				t.log.Printf("%.1f s: evaluation failed: %v", time.Since(t.started).Seconds(), err)
			}
		case trip != nil:
			env.Logger.InfoContext(ctx, "guard tripped", "guard", t.spec.Name, "error", trip.Error())
			if env.Abort != nil {
				env.Abort(trip)
			}
			return
		}
	}
}

// stop ends the background evaluations and waits for the one in flight.
func (t *guardTask) stop(ctx context.Context) error {
	if t.cancel != nil {
		t.cancel()
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return fmt.Errorf("stopping guard %s: %w", t.spec.Name, ctx.Err())
	}
	t.mu.Lock()
	if t.stoppedAt.IsZero() {
		t.stoppedAt = time.Now()
	}
	t.mu.Unlock()
	return nil
}

// values are the guard's metrics.
func (t *guardTask) values() map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := map[string]any{
		"evaluations":        t.evaluations,
		"failed_evaluations": t.failed,
		"tripped":            t.trip != nil,
		"guarded_s":          t.stoppedAt.Sub(t.started).Seconds(),
	}
	if t.trip != nil {
		v["tripped_at"] = t.trip.At
		v["seen"] = (assertions.Result{Seen: t.trip.Seen}).SeenString()
	} else if t.evaluations > 0 {
		v["seen"] = t.lastSeen
	}
	return v
}

// Close stops a guard no guard.stop stopped, recording its metrics under
// the guard.start step's id.
func (t *guardTask) Close(ctx context.Context) error {
	if err := t.stop(ctx); err != nil {
		return err
	}
	for name, v := range t.values() {
		for _, sp := range guardMetrics {
			if sp.Name == name {
				if err := t.main.Record(t.key, name, sp.Type, v, time.Now()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// GuardStop stops a guard and records what it saw.
type GuardStop struct {
	Name string `yaml:"guard" doc:"the guard to stop"`
}

// References names the guard to stop.
func (g *GuardStop) References() []steps.Reference {
	return []steps.Reference{{Field: "guard", What: steps.RefGuard, Name: g.Name}}
}

// Stops names the guard: after an early stop the runner still runs this
// step, to record the guard's metrics.
func (g *GuardStop) Stops() (string, string) { return steps.RefGuard, g.Name }

// Run stops the guard and records its metrics; a guard that tripped (just
// before it was stopped) fails the step as the trip.
func (g *GuardStop) Run(ctx context.Context, env *steps.Env) error {
	task, err := env.Background.Take(g.Name)
	if err != nil {
		return err
	}
	t, ok := task.(*guardTask)
	if !ok {
		return fmt.Errorf("%q is not a guard", g.Name)
	}
	if err := t.stop(ctx); err != nil {
		return err
	}
	if l := t.log.String(); l != "" {
		env.Logf("%s", l)
	}
	v := t.values()
	env.Logf("guard %s: %v evaluations (%v failed) in %.1f s, tripped: %v", g.Name, v["evaluations"], v["failed_evaluations"], v["guarded_s"], v["tripped"])
	if err := env.RecordAll(v); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.trip != nil {
		return t.trip
	}
	return nil
}

// overlay reads a guard's own metrics (its poll step's) before the run's.
type overlay struct{ own, base *metric.Store }

func (o overlay) Get(name string) (metric.Sample, bool) {
	if s, ok := o.own.Get(name); ok {
		return s, true
	}
	return o.base.Get(name)
}

func (o overlay) GetStep(step, name string) (metric.Sample, bool) {
	if s, ok := o.own.GetStep(step, name); ok {
		return s, true
	}
	return o.base.GetStep(step, name)
}

func (o overlay) Env() map[string]any {
	env := o.base.Env()
	for k, v := range o.own.Env() {
		own, isStep := v.(map[string]any)
		base, baseStep := env[k].(map[string]any)
		if isStep && baseStep {
			merged := maps.Clone(base)
			maps.Copy(merged, own)
			v = merged
		}
		env[k] = v
	}
	return env
}

// syncLog is a guard's log: written by its goroutine, read by guard.stop;
// it keeps the first 16 KiB.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 16<<10 - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Printf writes a line.
func (l *syncLog) Printf(format string, args ...any) { fmt.Fprintf(l, format+"\n", args...) }

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Interface guards: what each kind of this file implements.
var (
	_ steps.Step      = (*GuardStart)(nil)
	_ steps.Validator = (*GuardStart)(nil)
	_ steps.Builder   = (*GuardStart)(nil)
	_ steps.Starter   = (*GuardStart)(nil)
	_ steps.Step      = (*GuardStop)(nil)
	_ steps.Referrer  = (*GuardStop)(nil)
	_ steps.Stopper   = (*GuardStop)(nil)
	_ steps.Task      = (*guardTask)(nil)
)
