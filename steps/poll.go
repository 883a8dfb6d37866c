package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
)

// Poll calls try every interval until it reports done, fails, or ctx ends.
// try returns what it last saw when not done: it is shown as progress and
// in the error when time runs out.
func Poll(ctx context.Context, env *Env, interval time.Duration, what string, try func() (done bool, last string, err error)) error {
	start := time.Now()
	for {
		done, last, err := try()
		if done || err != nil {
			return err
		}
		env.Report("waiting for %s (%.1f s): %s", what, time.Since(start).Seconds(), last)
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %.1f s for %s (last seen: %s): %w", time.Since(start).Seconds(), what, last, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// CheckFailedError is a check that evaluated to false: a failed drill, not a
// broken one (exit code 1, not 3).
type CheckFailedError struct {
	Expr    string
	Seen    string
	Message string
}

func (e *CheckFailedError) Error() string {
	msg := e.Expr
	if e.Seen != "" {
		msg += ": " + e.Seen
	}
	if e.Message != "" {
		msg += " (" + e.Message + ")"
	}
	return msg
}

// TrippedError is a background guard whose condition became true: a failed
// drill (exit code 1), which stops the scenario at once.
type TrippedError struct {
	Guard   string // the guard's name
	Pos     dsl.Pos
	Expr    string
	Seen    []assertions.Seen // the values expr read when it became true
	At      time.Time
	Message string
}

func (e *TrippedError) Error() string {
	msg := fmt.Sprintf("guard %q (%s) tripped: %s", e.Guard, e.Pos, e.Expr)
	if seen := (assertions.Result{Seen: e.Seen}).SeenString(); seen != "" {
		msg += ": " + seen
	}
	if e.Message != "" {
		msg += " (" + e.Message + ")"
	}
	return msg
}

// FirstLine is the first line of s, trimmed and cut to 200 bytes: for error
// messages that quote a command's output or an answer's body.
func FirstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// IsPermanent reports whether err, or an error it wraps, says that trying
// again cannot help (a Permanent() bool method that returns true, as
// pg.AuthError has): the runner does not retry such a step, and polls stop
// at once.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}
