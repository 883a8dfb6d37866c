package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
		Example: "kind: wait_until\nexpr: status_code == 200 # postgres-standby1 is the primary...\nhold: 10s            # ...and stays it for 10 s on end\ninterval: 500ms\ntimeout: 60s\npoll:\n  kind: http\n  url: http://127.0.0.1:18009/primary\n  expect_status: [200, 503]",
		New:     func() steps.Step { return &WaitUntil{Interval: time.Second} },
		Timeout: 5 * time.Minute,
		Metrics: []metric.Spec{
			{Name: "waited_s", Type: metric.Number, Doc: "seconds from the start of the step until the wait ended: expr first true (with hold: true for the whole hold, so waited_s - held_s is when the streak began)", Resolution: "the interval"},
			{Name: "polls", Type: metric.Number, Doc: "how many times expr was evaluated"},
			{Name: "false_polls", Type: metric.Number, Doc: "how many evaluations found expr false or a metric it reads missing; 0 means true from the first evaluation on (with hold: it never broke, however long the poll step took)"},
			{Name: "until_at", Type: metric.Time, Doc: "when expr was first seen true (with hold: when the streak that lasted began)", Resolution: "the interval"},
			{Name: "held_s", Type: metric.Number, Doc: "with hold: how long expr had stayed true when the wait ended (at least hold)", Resolution: "the interval"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "check",
		Summary: "assert a condition now, mid-scenario",
		Doc: "Evaluates expr over the metrics recorded so far; when it is false the scenario stops as a failed check " +
			"(exit code 1). Use it for the steady state before a fault. With poll, the given step runs first and expr " +
			"can use what it records. With hold (and interval, and poll), expr must stay true on every evaluation for " +
			"that long (lag under 1 MB for 30s): the first false one fails the check at once, with the values seen and " +
			"how far into the hold it came.",
		Example: "kind: check\nexpr: lag_mb < 1\nhold: 30s\ninterval: 1s\npoll:\n  kind: pg.lag\nmessage: replication must keep up under steady load",
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
	var err error
	w.check, w.poll, err = compilePolled(bc, "expr", w.Expr, w.Poll, false)
	return err
}

// DeclaredMetrics adds the poll step's metrics to wait_until's own.
func (w *WaitUntil) DeclaredMetrics() []metric.Spec { return pollMetrics(w.poll) }

// Run polls until expr is true or ctx ends.
func (w *WaitUntil) Run(ctx context.Context, env *steps.Env) error {
	start, polls, falsePolls := time.Now(), 0, 0
	var since time.Time // when expr became true and stayed so; zero while false
	return steps.Poll(ctx, env, w.Interval, w.Expr, func() (bool, string, error) {
		polls++
		pollErr := ""
		if w.poll != nil {
			if err := runPoll(ctx, env, w.poll, env.Lookup); steps.IsPermanent(err) {
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
			values := map[string]any{"waited_s": now.Sub(start).Seconds(), "polls": polls, "false_polls": falsePolls, "until_at": since}
			if w.Hold > 0 {
				values["held_s"] = now.Sub(since).Seconds()
				env.Logf("held for %.3f s (hold %s)", now.Sub(since).Seconds(), w.Hold)
			}
			return true, "", env.RecordAll(values)
		case err == nil:
			if !since.IsZero() {
				env.Logf("%s false again after %.3f s true: the hold starts over", w.Expr, time.Since(since).Seconds())
			}
			since, falsePolls = time.Time{}, falsePolls+1
			return false, res.SeenString() + pollErr, nil
		case errors.As(err, new(*assertions.MissingError)):
			since, falsePolls = time.Time{}, falsePolls+1
			return false, err.Error() + pollErr, nil
		}
		return false, "", err
	})
}

// CheckStep asserts an expression mid-scenario, once or for a while.
type CheckStep struct {
	Expr     string        `yaml:"expr" required:"true" doc:"condition that must hold now (with hold: on every evaluation for that long)"`
	Message  string        `yaml:"message" doc:"what a failure means, shown with the values seen"`
	Hold     time.Duration `yaml:"hold" doc:"expr must stay true on every evaluation for this long; the first false one fails the check (needs interval and poll)"`
	Interval time.Duration `yaml:"interval" doc:"with hold: time between evaluations"`
	Poll     *yaml.Node    `yaml:"poll" doc:"a step to run before each evaluation (once without hold); expr can use its metrics"`

	check *assertions.Check
	poll  *steps.Built
}

// Validate checks that hold, interval and poll go together.
func (c *CheckStep) Validate() error {
	switch {
	case c.Hold < 0:
		return steps.FieldErrorf("hold", "must not be negative")
	case c.Interval < 0:
		return steps.FieldErrorf("interval", "must not be negative")
	case c.Hold > 0 && c.Interval == 0:
		return steps.FieldErrorf("hold", "needs interval: how often to evaluate expr during the hold, e.g. interval: 1s")
	case c.Hold == 0 && c.Interval > 0:
		return steps.FieldErrorf("interval", "has no effect without hold: a check without hold evaluates expr once")
	case c.Hold > 0 && c.Interval > c.Hold:
		return steps.FieldErrorf("interval", "%s is longer than the hold (%s): expr would be evaluated once", c.Interval, c.Hold)
	case c.Hold > 0 && c.Poll == nil:
		return steps.FieldErrorf("hold", "needs poll: without a poll step expr reads the same recorded metrics on every evaluation; "+
			"add a poll step (e.g. pg.lag or sql.query) whose metrics expr reads")
	}
	return nil
}

// DefaultTimeout leaves room for the hold and the poll step.
func (c *CheckStep) DefaultTimeout() time.Duration {
	if c.poll == nil {
		return 10 * time.Second
	}
	return c.Hold + c.poll.Timeout + 10*time.Second
}

// Build builds the poll step and compiles expr against the metrics recorded
// before this step, plus the poll step's.
func (c *CheckStep) Build(bc *steps.BuildContext) error {
	var err error
	c.check, c.poll, err = compilePolled(bc, "expr", c.Expr, c.Poll, false)
	return err
}

// DeclaredMetrics adds held_s and polls with hold, and the poll step's
// metrics.
func (c *CheckStep) DeclaredMetrics() []metric.Spec {
	out := pollMetrics(c.poll)
	if c.Hold > 0 {
		out = append(out,
			metric.Spec{Name: "held_s", Type: metric.Number, Doc: "with hold: how long expr stayed true (at least hold when the check passed)", Resolution: "the interval"},
			metric.Spec{Name: "polls", Type: metric.Number, Doc: "how many times expr was evaluated"})
	}
	return out
}

// Run evaluates the expression (with hold, until the hold is over); false
// is a *CheckFailedError.
func (c *CheckStep) Run(ctx context.Context, env *steps.Env) error {
	var start time.Time // the first evaluation: the hold counts from it
	for polls := 1; ; polls++ {
		if c.poll != nil {
			if err := runPoll(ctx, env, c.poll, env.Lookup); err != nil {
				return fmt.Errorf("poll step (evaluation %d): %w", polls, err)
			}
		}
		res, err := c.check.Eval(env.Store, env.Vars)
		if err != nil {
			return err
		}
		if start.IsZero() {
			start = time.Now()
		}
		held := time.Since(start)
		if !res.OK {
			seen := res.SeenString()
			if c.Hold > 0 {
				seen = strings.TrimPrefix(fmt.Sprintf("%s; false after %.1f s of the %s hold (evaluation %d)", seen, held.Seconds(), c.Hold, polls), "; ")
				if rerr := env.RecordAll(map[string]any{"held_s": held.Seconds(), "polls": polls}); rerr != nil {
					return rerr
				}
			}
			return &steps.CheckFailedError{Expr: c.Expr, Seen: seen, Message: c.Message}
		}
		if held >= c.Hold {
			env.Logf("%s: %s", c.Expr, res.SeenString())
			if c.Hold == 0 {
				return nil
			}
			env.Logf("held for %.3f s (hold %s, %d evaluations)", held.Seconds(), c.Hold, polls)
			return env.RecordAll(map[string]any{"held_s": held.Seconds(), "polls": polls})
		}
		env.Report("%s true for %.1f s of %s: %s", c.Expr, held.Seconds(), c.Hold, res.SeenString())
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %.1f s of the %s hold: %w", held.Seconds(), c.Hold, ctx.Err())
		case <-time.After(c.Interval):
		}
	}
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step           = (*CheckStep)(nil)
	_ steps.Builder        = (*CheckStep)(nil)
	_ steps.Validator      = (*CheckStep)(nil)
	_ steps.Timeouter      = (*CheckStep)(nil)
	_ steps.MetricDeclarer = (*CheckStep)(nil)
	_ steps.Step           = (*Sleep)(nil)
	_ steps.Timeouter      = (*Sleep)(nil)
	_ steps.Step           = (*WaitUntil)(nil)
	_ steps.Validator      = (*WaitUntil)(nil)
	_ steps.Timeouter      = (*WaitUntil)(nil)
	_ steps.MetricDeclarer = (*WaitUntil)(nil)
	_ steps.Builder        = (*WaitUntil)(nil)
)
