package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/metric"
)

// The compose kinds (stop, kill, pause, unpause, start and restart the
// containers of a compose service) and what every container and network
// fault step shares: resolving a target to containers, the fault metrics,
// and undo operations that `drill cleanup` can replay from the ledger alone.

// Undo operations of the compose faults, also the ops their reversing steps
// resolve.
const (
	opStart   = "compose.start"
	opUnpause = "compose.unpause"
)

// faultMetrics are recorded by every fault step. Other kinds measure from
// them (rto_s from the latest fault_at, a new leader against leader_before):
// keep the names.
var faultMetrics = []metric.Spec{
	{Name: "fault_at", Type: metric.Time, Doc: "when the fault began: for compose.stop and compose.restart when the stop was requested (the service starts shutting down at once), for the other kinds right after the Docker engine (or iptables or tc) confirmed it for the last container", Resolution: "one engine round trip"},
	{Name: "service", Type: metric.String, Doc: "the compose service hit (several joined by commas; for a partition, the first group's)"},
	{Name: "member", Type: metric.String, Doc: "the Patroni member it runs, when known (several joined by commas)"},
	{Name: "containers", Type: metric.StringList, Doc: "the names of every container the fault touched"},
	{Name: "leader_before", Type: metric.String, Doc: "the Patroni leader just before the fault; recorded only when the cluster block names Patroni and it reported a leader"},
}

func init() {
	const roleNote = " A role is resolved when the step runs: after a fault the roles move, so name the service (e.g. ${stop.service}) to put back what an earlier step took down."
	Register(Kind{
		Name:    "compose.stop",
		Summary: "stop the containers of a compose service",
		Doc: "Sends SIGTERM (or the image's stop signal), waits up to grace, then SIGKILLs, like docker stop. " +
			"The run starts the containers again at its end unless keep is set.",
		Example: "kind: compose.stop\ntarget: leader\ngrace: 10s",
		New:     func() Step { return &ComposeStop{Grace: 10 * time.Second} },
		Metrics: faultMetrics,
		Fault:   true,
	})
	Register(Kind{
		Name:    "compose.kill",
		Summary: "send a signal to the containers of a compose service",
		Doc: "Sends signal (SIGKILL by default) to each container's main process, like docker kill; the signal " +
			"name is checked when the file is loaded. The run starts the containers again at its end unless keep is set.",
		Example: "kind: compose.kill\ntarget: postgres-master\nsignal: SIGKILL",
		New:     func() Step { return &ComposeKill{Signal: "SIGKILL"} },
		Timeout: 30 * time.Second,
		Metrics: faultMetrics,
		Fault:   true,
	})
	Register(Kind{
		Name:    "compose.pause",
		Summary: "freeze the containers of a compose service",
		Doc: "Freezes every process of each container (docker pause): the node hangs without dying, as in a long " +
			"GC pause or a stalled VM. compose.unpause or the end of the run thaws them unless keep is set.",
		Example: "kind: compose.pause\ntarget: leader",
		New:     func() Step { return &ComposePause{} },
		Timeout: 30 * time.Second,
		Metrics: faultMetrics,
		Fault:   true,
	})
	Register(Kind{
		Name:    "compose.unpause",
		Summary: "thaw the paused containers of a compose service",
		Doc: "Unpauses each container (one that is not paused is left alone) and marks the pause faults on them " +
			"undone." + roleNote,
		Example: "kind: compose.unpause\ntarget: ${pause.service}",
		New:     func() Step { return &ComposeResume{resume: resumeUnpause} },
		Timeout: 30 * time.Second,
	})
	Register(Kind{
		Name:    "compose.start",
		Summary: "start the stopped containers of a compose service",
		Doc: "Starts each container (one already running is left alone) and marks the stop and kill faults on " +
			"them undone." + roleNote,
		Example: "kind: compose.start\ntarget: ${stop.service}",
		New:     func() Step { return &ComposeResume{resume: resumeStart} },
	})
	Register(Kind{
		Name:    "compose.restart",
		Summary: "restart the containers of a compose service",
		Doc: "Stops each container like compose.stop (SIGTERM, then SIGKILL after grace) and starts it again, " +
			"like docker restart. If drill dies in between, drill cleanup starts it.",
		Example: "kind: compose.restart\ntarget: replica\ngrace: 5s",
		New:     func() Step { return &ComposeRestart{Grace: 10 * time.Second} },
		Metrics: faultMetrics,
		Fault:   true,
	})
	RegisterUndo(opStart, resumeStart.undo)
	RegisterUndo(opUnpause, resumeUnpause.undo)
}

// ComposeStop stops containers.
type ComposeStop struct {
	Target string        `yaml:"target" required:"true" doc:"what to stop: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Grace  time.Duration `yaml:"grace" doc:"time between SIGTERM and SIGKILL, in whole seconds"`
	Keep   bool          `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target and index (durations are never negative).
func (s *ComposeStop) Validate() error { return validateContainer(s.Target, s.Index) }

// DefaultTimeout leaves room for the grace period.
func (s *ComposeStop) DefaultTimeout() time.Duration { return s.Grace + 30*time.Second }

// Run stops every container of the target; undone by starting them.
func (s *ComposeStop) Run(ctx context.Context, env *Env) error {
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, keep: s.Keep, verb: "stop", undo: opStart, atRequest: true,
		apply: func(ctx context.Context, p *docker.Project, t docker.Target) error { return p.Stop(ctx, t, s.Grace) },
	})
}

// ComposeKill signals containers.
type ComposeKill struct {
	Target string `yaml:"target" required:"true" doc:"what to kill: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Signal string `yaml:"signal" doc:"signal name or number, e.g. SIGKILL, SIGTERM, HUP, 9"`
	Keep   bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target, index and signal name.
func (s *ComposeKill) Validate() error {
	if !dsl.HasRefs(s.Signal) {
		if _, err := docker.ParseSignal(s.Signal); err != nil {
			return FieldErrorf("signal", "%v", err)
		}
	}
	return validateContainer(s.Target, s.Index)
}

// Run sends the signal to every container of the target; undone by starting
// them (a container the signal did not stop is left alone).
func (s *ComposeKill) Run(ctx context.Context, env *Env) error {
	sig, err := docker.ParseSignal(s.Signal)
	if err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, keep: s.Keep, verb: "kill (" + sig.String() + ")", undo: opStart,
		apply: func(ctx context.Context, p *docker.Project, t docker.Target) error { return p.Kill(ctx, t, sig) },
	})
}

// ComposePause freezes containers.
type ComposePause struct {
	Target string `yaml:"target" required:"true" doc:"what to freeze: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Keep   bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target and index.
func (s *ComposePause) Validate() error { return validateContainer(s.Target, s.Index) }

// Run pauses every container of the target; undone by unpausing them.
func (s *ComposePause) Run(ctx context.Context, env *Env) error {
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, keep: s.Keep, verb: "pause", undo: opUnpause,
		apply: func(ctx context.Context, p *docker.Project, t docker.Target) error { return p.Pause(ctx, t) },
	})
}

// ComposeRestart restarts containers.
type ComposeRestart struct {
	Target string        `yaml:"target" required:"true" doc:"what to restart: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Grace  time.Duration `yaml:"grace" doc:"time between SIGTERM and SIGKILL, in whole seconds"`
}

// Validate checks the target and index.
func (s *ComposeRestart) Validate() error { return validateContainer(s.Target, s.Index) }

// DefaultTimeout leaves room for the grace period.
func (s *ComposeRestart) DefaultTimeout() time.Duration { return s.Grace + 30*time.Second }

// Run restarts every container of the target. The ledger holds a start
// while the restart runs; once the containers run again the fault is marked
// undone.
func (s *ComposeRestart) Run(ctx context.Context, env *Env) error {
	return runContainerFault(ctx, env, containerFault{
		target: s.Target, index: s.Index, verb: "restart", undo: opStart, resolve: true, atRequest: true,
		apply: func(ctx context.Context, p *docker.Project, t docker.Target) error { return p.Restart(ctx, t, s.Grace) },
	})
}

// ComposeResume puts containers back: compose.start and compose.unpause.
type ComposeResume struct {
	Target string `yaml:"target" required:"true" doc:"what to put back: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index  int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`

	resume resume
}

// Validate checks the target and index.
func (s *ComposeResume) Validate() error { return validateContainer(s.Target, s.Index) }

// Run puts every container of the target back and marks the faults it
// reverses undone in the ledger.
func (s *ComposeResume) Run(ctx context.Context, env *Env) error {
	p, vs, err := resolveVictims(ctx, env, s.Target, s.Index)
	if err != nil {
		return err
	}
	return eachVictim(vs, func(_ int, v victim) error {
		if err := s.resume.do(p, ctx, v.target); err != nil {
			return err
		}
		env.Logf("%s %s", s.resume.verb, v)
		return env.Faults.Resolved(s.resume.op, v.key())
	})
}

// resume is an operation that puts a container back, used alike by a step
// and by the undo of a fault.
type resume struct {
	op   string // the undo op it is registered as
	verb string
	do   func(p *docker.Project, ctx context.Context, t docker.Target) error
}

var (
	resumeStart   = resume{op: opStart, verb: "start", do: (*docker.Project).Start}
	resumeUnpause = resume{op: opUnpause, verb: "unpause", do: (*docker.Project).Unpause}
)

// undo puts back every container of a ledger entry. A container that is
// already back counts as done; one that is gone is an error.
func (r resume) undo(ctx context.Context, infra *Infra, raw json.RawMessage) error {
	return projectUndo(ctx, infra, r.op, raw, func(p *docker.Project, a undoArgs) error {
		var errs []error
		for _, c := range a.Containers {
			if err := r.do(p, ctx, c.target()); err != nil {
				errs = append(errs, c.failed(r.verb, err))
			}
		}
		return errors.Join(errs...)
	})
}

// validateContainer checks a target and index at load time.
func validateContainer(target string, index int) error {
	if index < 0 {
		return FieldErrorf("index", "must be a container number, 1 or more")
	}
	return ValidateTarget("target", target)
}

// victim is one container a step acts on, and what drill knows of it.
type victim struct {
	target docker.Target // always with its container number when compose gave one
	name   string        // the container's name
	member Member
}

// key names the container in fault targets and netfault: "service#N".
func (v victim) key() string { return v.target.String() }

// String describes the container for fault descriptions and logs:
// "container x_db_1 (service db, member db, the leader)".
func (v victim) String() string {
	parts := []string{"service " + v.target.Service}
	if v.member.Name != "" {
		parts = append(parts, "member "+v.member.Name)
	}
	if r := roleWords(v.member.Role); r != "" {
		parts = append(parts, r)
	}
	return fmt.Sprintf("container %s (%s)", v.name, strings.Join(parts, ", "))
}

func roleWords(role string) string {
	switch patroni.Role(role) {
	case patroni.RoleLeader:
		return "the leader"
	case patroni.RoleStandbyLeader:
		return "the standby leader"
	case patroni.RoleSyncStandby:
		return "the synchronous standby"
	case patroni.RoleReplica:
		return "a replica"
	}
	return role
}

// resolveVictims returns the scenario's compose project and the containers
// target stands for (index 0: every container of each service).
func resolveVictims(ctx context.Context, env *Env, target string, index int) (*docker.Project, []victim, error) {
	p, err := env.Project(ctx)
	if err != nil {
		return nil, nil, err
	}
	vs, err := victimsOf(ctx, env, p, target, index)
	return p, vs, err
}

// victimsOf resolves target (a service or a role) to containers of p.
func victimsOf(ctx context.Context, env *Env, p *docker.Project, target string, index int) ([]victim, error) {
	members, err := env.Members(ctx, target)
	if err != nil {
		return nil, err
	}
	var out []victim
	for _, m := range members {
		cs, err := p.Containers(ctx, m.Service)
		if err != nil && IsRole(target) {
			return nil, fmt.Errorf("%s is Patroni member %q, taken to run in service %q: %w (map it with cluster.members.%s.service)", target, m.Name, m.Service, err, m.Name)
		}
		if err != nil {
			return nil, err
		}
		if index != 0 {
			i := slices.IndexFunc(cs, func(c docker.Container) bool { return c.Target.Number == index })
			if i < 0 {
				var numbers []string
				for _, c := range cs {
					numbers = append(numbers, strconv.Itoa(c.Target.Number))
				}
				return nil, &docker.NotFoundError{Kind: "container number", Name: strconv.Itoa(index), Service: m.Service, Project: p.Name(), Known: numbers}
			}
			cs = cs[i : i+1]
		}
		for _, c := range cs {
			out = append(out, victim{target: c.Target, name: c.Name, member: m})
		}
	}
	return out, nil
}

// eachVictim runs fn for every container at once, so that a fault hits a
// scaled service's containers at nearly the same moment, and joins the
// errors.
func eachVictim(vs []victim, fn func(i int, v victim) error) error {
	errs := make([]error, len(vs))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Go(func() { errs[i] = fn(i, v) })
	}
	wg.Wait()
	return errors.Join(errs...)
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
	// atRequest dates the fault from the request rather than from the
	// engine's confirmation: a stop takes the grace period to confirm, but
	// Patroni starts shutting down (and may hand over) at once.
	atRequest bool
	apply     func(ctx context.Context, p *docker.Project, t docker.Target) error
}

// runContainerFault resolves the target, records the fault metrics and
// injects one fault per container through the ledger.
func runContainerFault(ctx context.Context, env *Env, f containerFault) error {
	p, vs, err := resolveVictims(ctx, env, f.target, f.index)
	if err != nil {
		return err
	}
	if err := prepareFault(ctx, env, vs); err != nil {
		return err
	}
	requested := time.Now()
	err = eachVictim(vs, func(_ int, v victim) error {
		fault := Fault{Desc: f.verb + " " + v.String(), Target: v.key(), Undo: undoAction(f.undo, env, p, nil, v), Keep: f.keep}
		err := env.Faults.Inject(ctx, fault, func(ctx context.Context) error { return f.apply(ctx, p, v.target) })
		if err != nil {
			return err
		}
		env.Logf("%s", fault.Desc)
		if f.resolve {
			return env.Faults.Resolved(f.undo, v.key())
		}
		return nil
	})
	if err != nil {
		return err
	}
	if f.atRequest {
		return env.Record("fault_at", requested)
	}
	return faultApplied(env)
}

// prepareFault fills in the victims' Patroni members and roles, in place,
// and records what the fault is about to hit: the leader just before it
// (when the cluster block names Patroni and it answers; otherwise
// leader_before stays unrecorded), service and member (of hit), and
// containers (of hit and the others).
func prepareFault(ctx context.Context, env *Env, hit []victim, others ...[]victim) error {
	all := append([][]victim{hit}, others...)
	if cl, ok := patroniSnapshot(ctx, env); ok {
		for _, vs := range all {
			for i := range vs {
				annotate(&vs[i].member, cl)
			}
		}
		if leader := cl.LeaderName(); leader != "" {
			if err := env.Record("leader_before", leader); err != nil {
				return err
			}
		} else {
			env.Logf("leader_before not recorded: Patroni reports no leader (members: %s)", describeRoles(cl))
		}
	}
	var services, members, containers []string
	for _, v := range hit {
		services = appendNew(services, v.target.Service)
		if v.member.Name != "" {
			members = appendNew(members, v.member.Name)
		}
	}
	for _, v := range slices.Concat(all...) {
		containers = append(containers, v.name)
	}
	if len(members) > 0 {
		if err := env.Record("member", strings.Join(members, ",")); err != nil {
			return err
		}
	}
	if err := env.Record("service", strings.Join(services, ",")); err != nil {
		return err
	}
	return env.Record("containers", containers)
}

// faultApplied records fault_at: now, right after the fault was confirmed.
func faultApplied(env *Env) error { return env.Record("fault_at", time.Now()) }

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// patroniSnapshot returns Patroni's /cluster when the cluster block names a
// Patroni REST API; a failed call is logged and reported as not ok.
func patroniSnapshot(ctx context.Context, env *Env) (patroni.Cluster, bool) {
	cl := env.Infra.Cluster
	configured := len(cl.Patroni) > 0
	for _, m := range cl.Members {
		configured = configured || m.API != ""
	}
	if !configured {
		return patroni.Cluster{}, false
	}
	client, err := env.Patroni()
	if err == nil {
		var snap patroni.Cluster
		if snap, err = client.Cluster(ctx); err == nil {
			return snap, true
		}
	}
	env.Logf("leader_before not recorded: %v", err)
	env.Logger.WarnContext(ctx, "leader before the fault unknown", "error", err)
	return patroni.Cluster{}, false
}

// annotate completes a member from Patroni's /cluster: its name, when the
// target was a service that runs the member of the same name, and its role.
func annotate(m *Member, cl patroni.Cluster) {
	if m.Name == "" {
		if _, ok := cl.Member(m.Service); ok {
			m.Name = m.Service
		}
	}
	if pm, ok := cl.Member(m.Name); ok && m.Role == "" {
		m.Role = string(pm.Role)
	}
}

// undoArgs are an undo's arguments in the ledger. They name everything the
// undo needs, since `drill cleanup` runs without the scenario's cluster
// block.
type undoArgs struct {
	Project     string           `json:"project"`
	HelperImage string           `json:"helper_image,omitempty"`
	Containers  []undoContainer  `json:"containers"`
	Endpoint    *docker.Endpoint `json:"endpoint,omitempty"` // network.connect: the attachment to restore
}

// undoContainer is one container of an undo.
type undoContainer struct {
	Service string `json:"service"`
	Number  int    `json:"number,omitempty"`
	Name    string `json:"name"` // when the fault was made, for messages
}

func (c undoContainer) target() docker.Target {
	return docker.Target{Service: c.Service, Number: c.Number}
}

// failed says which container an undo could not put back; one that is gone
// (removed, or the service scaled down) says so.
func (c undoContainer) failed(verb string, err error) error {
	if errors.Is(err, docker.ErrNotFound) {
		return fmt.Errorf("cannot %s container %s: it is gone (removed or scaled down outside drill): %w", verb, c.Name, err)
	}
	return fmt.Errorf("cannot %s container %s: %w", verb, c.Name, err)
}

// undoAction builds the ledger's undo for the containers vs of p.
func undoAction(op string, env *Env, p *docker.Project, ep *docker.Endpoint, vs ...victim) Action {
	a := undoArgs{Project: p.Name(), HelperImage: env.Infra.Cluster.HelperImage, Endpoint: ep}
	for _, v := range vs {
		a.Containers = append(a.Containers, undoContainer{Service: v.target.Service, Number: v.target.Number, Name: v.name})
	}
	raw, err := json.Marshal(a)
	if err != nil {
		panic(fmt.Sprintf("steps: undo arguments do not encode: %v", err)) // plain strings and ints
	}
	return Action{Op: op, Args: raw}
}

// projectUndo decodes an undo's arguments, connects to the project they name
// and runs fn on it.
func projectUndo(ctx context.Context, infra *Infra, op string, raw json.RawMessage, fn func(p *docker.Project, a undoArgs) error) error {
	var a undoArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("%s: bad arguments in the ledger (%s): %w", op, raw, err)
	}
	if a.Project == "" {
		return fmt.Errorf("%s: the ledger entry names no compose project: %s", op, raw)
	}
	engine, err := dockerEngine(ctx, infra, a.HelperImage, slog.Default())
	if err != nil {
		return err
	}
	p, err := engine.Project(ctx, a.Project)
	if err != nil {
		return err
	}
	return fn(p, a)
}

// dockerEngine returns the Docker engine client kept in infra, connecting on
// first use. Env.Project and the undo operations share it. It is kept per
// helper image, since `drill cleanup` may replay the faults of scenarios
// that named different ones.
func dockerEngine(ctx context.Context, infra *Infra, helperImage string, log *slog.Logger) (*docker.Engine, error) {
	name := "docker"
	if helperImage != "" {
		name += " helper=" + helperImage
	}
	c, err := infra.Client(name, func() (any, error) {
		return docker.Connect(ctx, docker.Options{HelperImage: helperImage, Logger: log})
	})
	if err != nil {
		return nil, err
	}
	return c.(*docker.Engine), nil
}
