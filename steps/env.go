package steps

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/timeline"
)

// Env is what a running step sees of the run: where to record metrics and
// write its log, the outside systems it acts on (Ports), the fault ledger
// and the background tasks. The runner makes one per step.
type Env struct {
	Step   *Built
	Store  *metric.Store
	Logger *slog.Logger
	// Log receives the step's own output (commands' stdout, progress); it
	// ends up in the reports.
	Log io.Writer
	// Vars are the scenario's vars, for steps that evaluate expressions.
	Vars map[string]any
	// Ports gives the platform, Patroni and PostgreSQL, built on first use.
	Ports *Ports
	// Faults records every fault in the ledger before it is applied.
	Faults fault.Recorder
	// Background holds long-running tasks (writers, watchers) by name.
	Background *Background
	// Timeline keeps series for the report's timeline (a writer's buckets,
	// a watcher's windows); nil drops them.
	Timeline *timeline.Recorder
	// RunDeadline is when the whole run must end (zero: no limit): faults
	// that can outlive drill are bounded by it.
	RunDeadline time.Time
	// Progress reports a long wait's state, e.g. "waiting for a leader (12 s)".
	Progress func(msg string)
	// Abort stops the scenario at once with err (a background guard whose
	// condition became true, a *TrippedError): the running step's context
	// is cancelled, the remaining steps are skipped and the faults are
	// undone. Safe to call from any goroutine, more than once (the first
	// error wins); nil when the step does not run under the runner.
	Abort func(err error)
}

// Record stores a metric the step declared. Recording an undeclared metric
// is a programming error reported as a step error.
func (e *Env) Record(name string, v any) error {
	for _, sp := range e.Step.Metrics {
		if sp.Name == name {
			return e.Store.Record(e.Step.Key, name, sp.Type, v, time.Now())
		}
	}
	return fmt.Errorf("step kind %s recorded %q, which it does not declare", e.Step.Kind.Name, name)
}

// RecordAll records several metrics, stopping at the first error.
func (e *Env) RecordAll(values map[string]any) error {
	for name, v := range values {
		if err := e.Record(name, v); err != nil {
			return err
		}
	}
	return nil
}

// Latest returns the value of name recorded by step id, or the latest one
// of any step when id is "".
func (e *Env) Latest(id, name string) (metric.Sample, bool) {
	if id != "" {
		return e.Store.GetStep(id, name)
	}
	return e.Store.Get(name)
}

// Cluster is the scenario's cluster block.
func (e *Env) Cluster() *cluster.Cluster { return e.Ports.Cluster }

// Logf writes a line to the step's log.
func (e *Env) Logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", args...)
	}
}

// Report sends a progress message, when the runner shows progress.
func (e *Env) Report(format string, args ...any) {
	if e.Progress != nil {
		e.Progress(fmt.Sprintf(format, args...))
	}
}

// Task is a background activity started by one step and stopped by another,
// which reads its results through the task's own type. The runner closes
// the tasks no step stopped when the scenario ends.
type Task interface {
	// Close ends the task and releases what it holds.
	Close(ctx context.Context) error
}

// Background is the set of running tasks of one scenario run.
type Background struct {
	mu    sync.Mutex
	tasks map[string]Task
	order []string
}

// Start registers a running task under name; a name already running is an
// error.
func (b *Background) Start(name string, t Task) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tasks == nil {
		b.tasks = map[string]Task{}
	}
	if _, dup := b.tasks[name]; dup {
		return fmt.Errorf("a background task named %q is already running; stop it first or choose another name", name)
	}
	b.tasks[name] = t
	b.order = append(b.order, name)
	return nil
}

// Take removes and returns the task named name.
func (b *Background) Take(name string) (Task, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tasks[name]
	if !ok {
		names := make([]string, 0, len(b.tasks))
		for n := range b.tasks {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no background task named %q is running (running: %v)", name, names)
	}
	delete(b.tasks, name)
	for i, n := range b.order {
		if n == name {
			b.order = append(b.order[:i], b.order[i+1:]...)
			break
		}
	}
	return t, nil
}

// Get returns the running task named name, leaving it running.
func (b *Background) Get(name string) (Task, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tasks[name]
	return t, ok
}

// Running lists the running tasks, newest first.
func (b *Background) Running() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.order))
	for i, n := range b.order {
		out[len(b.order)-1-i] = n
	}
	return out
}

// Lookup resolves a ${step_id.metric} reference to the text of the value
// that step recorded; it is false when the value was not recorded.
func (e *Env) Lookup(ref dsl.Ref) (string, bool) {
	s, ok := e.Store.GetStep(ref.Step, ref.Name)
	if !ok {
		return "", false
	}
	if str, isStr := s.Value.(string); isStr {
		return str, true
	}
	return metric.Format(s.Value), true
}
