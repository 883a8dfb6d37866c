// Package member holds the kinds that act on a member's lifecycle through the
// platform: stop, kill, pause, unpause, start and restart (named compose.*
// after the first platform; they work on every platform that offers the
// capabilities they need).
package member

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/signal"
	"github.com/drill-dev/drill/steps"
)

// Undo operations of the compose faults, also the ops their reversing steps
// resolve. Exported for the process faults that fall back on a whole unit.
const (
	OpStart   = "compose.start"
	OpUnpause = "compose.unpause"
)

func init() {
	const roleNote = " A role is resolved when the step runs: after a fault the roles move, so name the service (e.g. ${stop.service}) to put back what an earlier step took down."
	steps.Register(steps.Kind{
		Name:    "member.stop",
		Aliases: []string{"compose.stop"},
		Needs:   []platform.Capability{platform.Lifecycle},
		Summary: "stop a member (its container, or its units on a host)",
		Doc: "Sends SIGTERM (or the image's stop signal), waits up to grace, then SIGKILLs, like docker stop. " +
			"The run starts the containers again at its end unless keep is set.",
		Example: "kind: compose.stop\ntarget: leader\ngrace: 10s",
		New:     func() steps.Step { return &ComposeStop{Grace: 10 * time.Second} },
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "member.kill",
		Aliases: []string{"compose.kill"},
		Needs:   []platform.Capability{platform.Lifecycle},
		Summary: "send a signal to every process of a member",
		Doc: "Sends signal (SIGKILL by default) to each container's main process, like docker kill; the signal " +
			"name is checked when the file is loaded. The run starts the containers again at its end unless keep is set.",
		Example: "kind: compose.kill\ntarget: postgres-master\nsignal: SIGKILL",
		New:     func() steps.Step { return &ComposeKill{Signal: "SIGKILL"} },
		Timeout: 30 * time.Second,
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "member.pause",
		Aliases: []string{"compose.pause"},
		Needs:   []platform.Capability{platform.Freeze},
		Summary: "freeze every process of a member",
		Doc: "Freezes every process of each container (docker pause): the node hangs without dying, as in a long " +
			"GC pause or a stalled VM. compose.unpause or the end of the run thaws them unless keep is set.",
		Example: "kind: compose.pause\ntarget: leader",
		New:     func() steps.Step { return &ComposePause{} },
		Timeout: 30 * time.Second,
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "member.unpause",
		Aliases: []string{"compose.unpause"},
		Needs:   []platform.Capability{platform.Freeze},
		Summary: "thaw a frozen member",
		Doc: "Unpauses each container (one that is not paused is left alone) and marks the pause faults on them " +
			"undone." + roleNote,
		Example: "kind: compose.unpause\ntarget: ${pause.service}",
		New:     func() steps.Step { return &ComposeResume{resume: resumeUnpause} },
		Timeout: 30 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "member.start",
		Aliases: []string{"compose.start"},
		Needs:   []platform.Capability{platform.Lifecycle},
		Summary: "start a stopped member",
		Doc: "Starts each container (one already running is left alone) and marks the stop and kill faults on " +
			"them undone." + roleNote,
		Example: "kind: compose.start\ntarget: ${stop.service}",
		New:     func() steps.Step { return &ComposeResume{resume: resumeStart} },
	})
	steps.Register(steps.Kind{
		Name:    "member.restart",
		Aliases: []string{"compose.restart"},
		Needs:   []platform.Capability{platform.Lifecycle},
		Summary: "restart a member",
		Doc: "Stops each container like compose.stop (SIGTERM, then SIGKILL after grace) and starts it again, " +
			"like docker restart. If drill dies in between, drill cleanup starts it.",
		Example: "kind: compose.restart\ntarget: replica\ngrace: 5s",
		New:     func() steps.Step { return &ComposeRestart{Grace: 10 * time.Second} },
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	fault.Register(OpStart, resumeStart.undo)
	fault.Register(OpUnpause, resumeUnpause.undo)
}

// ComposeStop stops containers.
type ComposeStop struct {
	Target string        `yaml:"target" target:"unit" required:"true" doc:"what to stop: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Grace  time.Duration `yaml:"grace" doc:"time between SIGTERM and SIGKILL, in whole seconds"`
	Keep   bool          `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target, index and grace (durations are never negative).
func (s *ComposeStop) Validate() error { return validateGraceful(s.Target, s.Index, s.Grace) }

// validateGraceful checks a stop or restart: the platform's stop takes its
// grace period in whole seconds.
func validateGraceful(target string, index int, grace time.Duration) error {
	if grace%time.Second != 0 {
		return steps.FieldErrorf("grace", "must be whole seconds, e.g. %s, found %s", (grace + time.Second - 1).Truncate(time.Second), grace)
	}
	return steps.ValidateUnit(target, index)
}

// DefaultTimeout leaves room for the grace period.
func (s *ComposeStop) DefaultTimeout() time.Duration { return s.Grace + 30*time.Second }

// Run stops every container of the target; undone by starting them.
func (s *ComposeStop) Run(ctx context.Context, env *steps.Env) error {
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, keep: s.Keep, verb: "stop", undo: OpStart,
		apply: func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error) {
			return p.Stop(ctx, u, s.Grace)
		},
	})
}

// ComposeKill signals containers.
type ComposeKill struct {
	Target string `yaml:"target" target:"unit" required:"true" doc:"what to kill: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Signal string `yaml:"signal" doc:"signal name or number, e.g. SIGKILL, SIGTERM, HUP, 9"`
	Keep   bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target, index and signal name.
func (s *ComposeKill) Validate() error {
	if !dsl.HasRefs(s.Signal) {
		if _, err := signal.Parse(s.Signal); err != nil {
			return steps.FieldErrorf("signal", "%v", err)
		}
	}
	return steps.ValidateUnit(s.Target, s.Index)
}

// Run sends the signal to every container of the target; undone by starting
// them (a container the signal did not stop is left alone).
func (s *ComposeKill) Run(ctx context.Context, env *steps.Env) error {
	sig, err := signal.Parse(s.Signal)
	if err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, keep: s.Keep, verb: "kill (" + sig.String() + ")", undo: OpStart,
		apply: func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error) {
			return p.Kill(ctx, u, sig)
		},
	})
}

// ComposePause freezes containers.
type ComposePause struct {
	Target string `yaml:"target" target:"unit" required:"true" doc:"what to freeze: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Keep   bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target and index.
func (s *ComposePause) Validate() error { return steps.ValidateUnit(s.Target, s.Index) }

// Run pauses every container of the target; undone by unpausing them.
func (s *ComposePause) Run(ctx context.Context, env *steps.Env) error {
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, keep: s.Keep, verb: "pause", undo: OpUnpause,
		apply: func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error) {
			return p.Pause(ctx, u)
		},
	})
}

// ComposeRestart restarts containers.
type ComposeRestart struct {
	Target string        `yaml:"target" target:"unit" required:"true" doc:"what to restart: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Grace  time.Duration `yaml:"grace" doc:"time between SIGTERM and SIGKILL, in whole seconds"`
}

// Validate checks the target and index.
func (s *ComposeRestart) Validate() error { return validateGraceful(s.Target, s.Index, s.Grace) }

// DefaultTimeout leaves room for the grace period.
func (s *ComposeRestart) DefaultTimeout() time.Duration { return s.Grace + 30*time.Second }

// Run restarts every container of the target. The ledger holds a start
// while the restart runs; once the containers run again the fault is marked
// undone.
func (s *ComposeRestart) Run(ctx context.Context, env *steps.Env) error {
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, verb: "restart", undo: OpStart, resolve: true,
		// dated from the request: the stop starts at once, the engine
		// confirms only once the container runs again
		apply: func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error) {
			requested := time.Now()
			return platform.Effect{At: requested, Source: "the restart request"}, p.Restart(ctx, u, s.Grace)
		},
	})
}

// ComposeResume puts containers back: compose.start and compose.unpause.
type ComposeResume struct {
	Target string `yaml:"target" target:"unit" required:"true" doc:"what to put back: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`

	resume resume
}

// Validate checks the target and index.
func (s *ComposeResume) Validate() error { return steps.ValidateUnit(s.Target, s.Index) }

// Run puts every container of the target back and marks the faults it
// reverses undone in the ledger.
func (s *ComposeResume) Run(ctx context.Context, env *steps.Env) error {
	p, vs, err := env.Victims(ctx, s.Target, s.Index)
	if err != nil {
		return err
	}
	return steps.EachVictim(vs, func(_ int, v steps.Victim) error {
		if err := s.resume.do(p, ctx, v.Unit); err != nil {
			return err
		}
		env.Logf("%s %s", s.resume.verb, v)
		return env.Faults.Resolved(s.resume.op, v.Key())
	})
}

// resume is an operation that puts a container back, used alike by a step
// and by the undo of a fault.
type resume struct {
	op   string // the undo op it is registered as
	verb string
	do   func(p platform.Platform, ctx context.Context, u platform.Unit) error
}

var (
	resumeStart   = resume{op: OpStart, verb: "start", do: platform.Platform.Start}
	resumeUnpause = resume{op: OpUnpause, verb: "unpause", do: platform.Platform.Unpause}
)

// undo puts back every container of a ledger entry. A container that is
// already back counts as done; one that is gone is an error.
func (r resume) undo(ctx context.Context, c fault.Connector, raw json.RawMessage) error {
	return steps.OnPlatform(ctx, c, r.op, raw, func(p platform.Platform, a steps.UndoArgs) error {
		var errs []error
		for _, u := range a.Units {
			if err := r.do(p, ctx, u.Unit()); err != nil {
				errs = append(errs, steps.UndoFailed(u, r.verb, err))
			}
		}
		return errors.Join(errs...)
	})
}

// containerFault is a fault applied to each container of a target.
type containerFault struct {
	target string
	index  int
	keep   bool
	verb   string // "stop", "kill (SIGKILL)": starts the fault's description
	undo   string // the undo op
	// resolve marks the fault undone once apply succeeded (a restart ends
	// with the container running).
	resolve bool
	// apply injects the fault into one unit and says when it took effect.
	apply func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error)
}

// runContainerFault resolves the target, records the fault metrics and
// injects one fault per container through the ledger. fault_at is when the
// fault had taken effect on the last unit, as the platform dates it.
func runContainerFault(ctx context.Context, env *steps.Env, f containerFault) error {
	p, vs, err := env.Victims(ctx, f.target, f.index)
	if err != nil {
		return err
	}
	if err := env.PrepareFault(ctx, vs); err != nil {
		return err
	}
	effects := make([]platform.Effect, len(vs))
	err = steps.EachVictim(vs, func(i int, v steps.Victim) error {
		flt := fault.Fault{Desc: f.verb + " " + v.String(), Target: v.Key(), Undo: steps.NewUndo(f.undo, p, nil, v), Keep: f.keep}
		err := env.Faults.Inject(ctx, flt, func(ctx context.Context) error {
			var err error
			effects[i], err = f.apply(ctx, p, v.Unit)
			return err
		})
		if err != nil {
			return err
		}
		env.Logf("%s: in effect at %s, dated by %s", flt.Desc, effects[i].At.Format("15:04:05.000"), effects[i].Source)
		if f.resolve {
			return env.Faults.Resolved(f.undo, v.Key())
		}
		return nil
	})
	if err != nil {
		return err
	}
	last := slices.MaxFunc(effects, func(a, b platform.Effect) int { return a.At.Compare(b.At) })
	return env.Record("fault_at", last.At)
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step      = (*ComposeKill)(nil)
	_ steps.Validator = (*ComposeKill)(nil)
	_ steps.Step      = (*ComposePause)(nil)
	_ steps.Validator = (*ComposePause)(nil)
	_ steps.Step      = (*ComposeRestart)(nil)
	_ steps.Validator = (*ComposeRestart)(nil)
	_ steps.Timeouter = (*ComposeRestart)(nil)
	_ steps.Step      = (*ComposeResume)(nil)
	_ steps.Validator = (*ComposeResume)(nil)
	_ steps.Step      = (*ComposeStop)(nil)
	_ steps.Validator = (*ComposeStop)(nil)
	_ steps.Timeouter = (*ComposeStop)(nil)
)
