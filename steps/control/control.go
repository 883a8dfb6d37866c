package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

// The control kinds: sleep, wait_until and check.

func init() {
	steps.Register(steps.Kind{
		Name:    "sleep",
		Summary: "wait for a fixed time",
		Doc:     "Pauses the scenario, e.g. to let replication settle or to keep a fault in place for a while. Ctrl-C interrupts it.",
		Example: "kind: sleep\nduration: 5s",
		New:     func() steps.Step { return &Sleep{} },
	})
	steps.Register(steps.Kind{
		Name:    "wait_until",
		Summary: "poll a condition until it is true",
		Doc: "Evaluates expr every interval until it is true, or fails when the step's timeout runs out. " +
			"With poll, the given step runs before each evaluation and expr can use what it records " +
			"(e.g. an http step reading an endpoint). With hold, expr must stay true on every evaluation for " +
			"that long (no leader for 20s, lag under 1 MB for 30s); a false one starts the hold again. " +
			"Records how long the wait took.",
		Example: "kind: wait_until\nexpr: status_code == 200\ninterval: 500ms\ntimeout: 60s\npoll:\n  kind: http\n  url: http://127.0.0.1:18009/primary\n  expect_status: [200, 503]",
		New:     func() steps.Step { return &WaitUntil{Interval: time.Second} },
		Timeout: 5 * time.Minute,
		Metrics: []metric.Spec{
			{Name: "waited_s", Type: metric.Number, Doc: "seconds from the start of the step until expr was first true", Resolution: "the interval"},
			{Name: "polls", Type: metric.Number, Doc: "how many times expr was evaluated"},
			{Name: "until_at", Type: metric.Time, Doc: "when expr was first seen true (with hold: when the streak that lasted began)", Resolution: "the interval"},
			{Name: "held_s", Type: metric.Number, Doc: "with hold: how long expr had stayed true when the wait ended (at least hold)", Resolution: "the interval"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "check",
		Summary: "assert a condition now, mid-scenario",
		Doc: "Evaluates expr over the metrics recorded so far; when it is false the scenario stops as a failed check " +
			"(exit code 1). Use it for the steady state before a fault.",
		Example: "kind: check\nexpr: members_online == 3 && lag_mb < 1\nmessage: the cluster must be healthy before the drill",
		New:     func() steps.Step { return &CheckStep{} },
		Timeout: 10 * time.Second,
	})
}

// Sleep waits for a fixed duration.
type Sleep struct {
	Duration time.Duration `yaml:"duration" required:"true" doc:"how long to wait, e.g. 5s"`
}

// DefaultTimeout leaves room for the sleep itself.
func (s *Sleep) DefaultTimeout() time.Duration { return s.Duration + 30*time.Second }

// Run waits, or returns ctx's error when interrupted.
func (s *Sleep) Run(ctx context.Context, env *steps.Env) error {
	t := time.NewTimer(s.Duration)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitUntil polls an expression until it holds.
type WaitUntil struct {
	Expr     string        `yaml:"expr" required:"true" doc:"condition to wait for, e.g. status_code == 200"`
	Interval time.Duration `yaml:"interval" doc:"time between evaluations"`
	Hold     time.Duration `yaml:"hold" doc:"expr must stay true this long, on every evaluation (default: once is enough)"`
	Poll     *yaml.Node    `yaml:"poll" doc:"a step to run before each evaluation; expr can use its metrics"`

	check *assertions.Check
	poll  *steps.Built
}

// Validate checks the interval.
func (w *WaitUntil) Validate() error {
	if w.Interval <= 0 {
		return steps.FieldErrorf("interval", "must be more than 0")
	}
	if w.Hold < 0 {
		return steps.FieldErrorf("hold", "must not be negative")
	}
	return nil
}

// DefaultTimeout leaves room for the hold.
func (w *WaitUntil) DefaultTimeout() time.Duration { return w.Hold + 5*time.Minute }

// Build builds the poll step and compiles expr against the metrics before
// this step plus the poll step's.
func (w *WaitUntil) Build(bc *steps.BuildContext) error {
	schema := bc.Schema
	if w.Poll != nil {
		poll, err := bc.BuildNested(w.Poll)
		if err != nil {
			return err
		}
		w.poll = poll
		schema = schema.Clone()
		schema.Add(bc.StepID(), poll.Metrics)
	}
	inner := *bc
	inner.Schema = schema
	check, err := inner.Compile("expr", w.Expr)
	if err != nil {
		return err
	}
	w.check = check
	return nil
}

// DeclaredMetrics adds the poll step's metrics to wait_until's own.
func (w *WaitUntil) DeclaredMetrics() []metric.Spec {
	if w.poll == nil {
		return nil
	}
	return w.poll.Metrics
}

// Run polls until expr is true or ctx ends.
func (w *WaitUntil) Run(ctx context.Context, env *steps.Env) error {
	start, polls := time.Now(), 0
	var since time.Time // when expr became true and stayed so; zero while false
	return steps.Poll(ctx, env, w.Interval, w.Expr, func() (bool, string, error) {
		polls++
		pollErr := ""
		if w.poll != nil {
			if err := w.runPoll(ctx, env); steps.IsPermanent(err) {
				return false, "", fmt.Errorf("poll step: %w", err)
			} else if err != nil {
				pollErr = "; poll step: " + err.Error()
			}
		}
		res, err := w.check.Eval(env.Store, env.Vars)
		switch {
		case err == nil && res.OK:
			now := time.Now()
			if since.IsZero() {
				since = now
			}
			if held := now.Sub(since); held < w.Hold {
				return false, fmt.Sprintf("true for %.1f s of %s: %s", held.Seconds(), w.Hold, res.SeenString()), nil
			}
			env.Logf("%s true after %d polls: %s", w.Expr, polls, res.SeenString())
			values := map[string]any{"waited_s": now.Sub(start).Seconds(), "polls": polls, "until_at": since}
			if w.Hold > 0 {
				values["held_s"] = now.Sub(since).Seconds()
				env.Logf("held for %.3f s (hold %s)", now.Sub(since).Seconds(), w.Hold)
			}
			return true, "", env.RecordAll(values)
		case err == nil:
			if !since.IsZero() {
				env.Logf("%s false again after %.3f s true: the hold starts over", w.Expr, time.Since(since).Seconds())
			}
			since = time.Time{}
			return false, res.SeenString() + pollErr, nil
		case errors.As(err, new(*assertions.MissingError)):
			since = time.Time{}
			return false, err.Error() + pollErr, nil
		}
		return false, "", err
	})
}

// runPoll runs the poll step recording under wait_until's id, under the
// poll step's own time limit.
func (w *WaitUntil) runPoll(ctx context.Context, env *steps.Env) error {
	inner := *env
	poll := *w.poll
	poll.Key = env.Step.Key
	inner.Step = &poll
	ctx, cancel := context.WithTimeout(ctx, w.poll.Timeout)
	defer cancel()
	step, err := poll.Resolve(env.Lookup)
	if err != nil {
		return err
	}
	return step.Run(ctx, &inner)
}

// CheckStep asserts an expression mid-scenario.
type CheckStep struct {
	Expr    string `yaml:"expr" required:"true" doc:"condition that must hold now"`
	Message string `yaml:"message" doc:"what a failure means, shown with the values seen"`

	check *assertions.Check
}

// Build compiles expr against the metrics recorded before this step.
func (c *CheckStep) Build(bc *steps.BuildContext) error {
	check, err := bc.Compile("expr", c.Expr)
	c.check = check
	return err
}

// Run evaluates the expression; false is a *CheckFailedError.
func (c *CheckStep) Run(ctx context.Context, env *steps.Env) error {
	res, err := c.check.Eval(env.Store, env.Vars)
	if err != nil {
		return err
	}
	if !res.OK {
		return &steps.CheckFailedError{Expr: c.Expr, Seen: res.SeenString(), Message: c.Message}
	}
	env.Logf("%s: %s", c.Expr, res.SeenString())
	return nil
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step           = (*CheckStep)(nil)
	_ steps.Builder        = (*CheckStep)(nil)
	_ steps.Step           = (*Sleep)(nil)
	_ steps.Timeouter      = (*Sleep)(nil)
	_ steps.Step           = (*WaitUntil)(nil)
	_ steps.Validator      = (*WaitUntil)(nil)
	_ steps.Timeouter      = (*WaitUntil)(nil)
	_ steps.MetricDeclarer = (*WaitUntil)(nil)
	_ steps.Builder        = (*WaitUntil)(nil)
)
