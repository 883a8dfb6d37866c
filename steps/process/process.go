// Package process holds the kinds that act on one process inside a member
// while the rest of it keeps running: process.kill, process.freeze,
// process.thaw and process.start. A process is one of the built-in names
// (postmaster, patroni, walreceiver, pgbouncer) or a name of the cluster
// block's processes; it is found in the member, and signalled or started,
// through the platform's admin exec (docker exec; SSH with sudo on hosts).
package process

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/signal"
	"github.com/drill-dev/drill/steps"
	"github.com/drill-dev/drill/steps/member"
)

// The undo operations of the process faults, also the ops process.start and
// process.thaw resolve.
const (
	opStart = "process.start" // undo of process.kill
	opThaw  = "process.thaw"  // undo of process.freeze
)

const (
	// mainNote is what the fault kinds say of a container's main process.
	mainNote = " When the process is PID 1 of a container, which the kernel shields from signals sent inside the container, " +
		"the step acts on the whole container through the engine instead (docker kill, docker pause) and says so."
)

func init() {
	pidMetrics := []metric.Spec{
		{Name: "pid", Type: metric.Number, Doc: "the process's pid (of the last unit when the target is several)"},
		{Name: "pids", Type: metric.StringMap, Doc: "each unit (container or host) to the pid of the process in it"},
	}
	steps.Register(steps.Kind{
		Name:    "process.kill",
		Needs:   []platform.Capability{platform.Exec, platform.Lifecycle},
		Summary: "send a signal to one process inside a member (postmaster, Patroni, walreceiver, PgBouncer...)",
		Doc: "Finds the process in the member once, records its pid in the ledger, and sends it signal (SIGKILL by default; " +
			"any name or number member.kill takes) while the rest of the member keeps running: \"crash the postmaster under " +
			"Patroni\", \"kill Patroni but leave PostgreSQL running\". At the end of the run, a process that is not running " +
			"again is started with the cluster block's processes.NAME.start (on hosts, by default, by starting the host's " +
			"units); a killed postmaster or walreceiver needs nothing (Patroni restarts the postmaster, the postmaster the " +
			"walreceiver), and the log says so. A kill that nothing would undo (Patroni in a container with no start " +
			"configured) is refused before the signal. process.start starts it earlier." + mainNote,
		Example: "kind: process.kill\ntarget: replica\nprocess: postmaster\nsignal: SIGKILL",
		New:     func() steps.Step { return &Kill{Signal: "SIGKILL"} },
		Timeout: 30 * time.Second,
		Metrics: append(slices.Clone(steps.FaultMetrics), pidMetrics...),
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "process.freeze",
		Needs:   []platform.Capability{platform.Exec, platform.Freeze},
		Summary: "freeze one process inside a member (SIGSTOP) while the rest keeps running",
		Doc: "Sends SIGSTOP to the process: it hangs without dying (Patroni stops renewing the leader key while " +
			"PostgreSQL runs on). process.thaw or the end of the run sends SIGCONT to the same pid (none if it is gone)." + mainNote,
		Example: "kind: process.freeze\ntarget: leader\nprocess: patroni",
		New:     func() steps.Step { return &Freeze{} },
		Timeout: 30 * time.Second,
		Metrics: append(slices.Clone(steps.FaultMetrics), pidMetrics...),
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "process.thaw",
		Needs:   []platform.Capability{platform.Exec, platform.Freeze},
		Summary: "thaw a process that process.freeze froze",
		Doc: "Sends SIGCONT to the pid an earlier process.freeze of this run froze in the member (else to the process " +
			"found now) and marks the freeze undone. A target by role is resolved when the step runs: name the service " +
			"(${freeze.service}) to thaw what an earlier step froze.",
		Example: "kind: process.thaw\ntarget: ${freeze.service}\nprocess: patroni",
		New:     func() steps.Step { return &Thaw{} },
		Timeout: 30 * time.Second,
		Metrics: []metric.Spec{{Name: "thawed_at", Type: metric.Time, Doc: "when SIGCONT was sent (drill's clock after the command returned)"}},
	})
	steps.Register(steps.Kind{
		Name:    "process.start",
		Needs:   []platform.Capability{platform.Exec, platform.Lifecycle},
		Summary: "start a process again now (Patroni after process.kill), instead of at the end of the run",
		Doc: "Runs the cluster block's processes.NAME.start in the member (on hosts, by default, starts the host's units) " +
			"unless the process already runs, waits until it does, and marks the kills of it undone: a drill can bring " +
			"Patroni back at a chosen moment and measure what follows. A process that was a container's main process is " +
			"started by starting the container.",
		Example: "kind: process.start\ntarget: ${kill.service}\nprocess: patroni",
		New:     func() steps.Step { return &Start{} },
		Timeout: time.Minute,
		Metrics: append([]metric.Spec{{Name: "started_at", Type: metric.Time, Doc: "when the process was first seen running again (polled every 200 ms)", Resolution: "the poll interval (200 ms) plus one platform round trip"}}, pidMetrics...),
	})
	fault.Register(opStart, undoStart)
	fault.Register(opThaw, undoThaw)
}

// Kill signals one process of each unit of the target.
type Kill struct {
	Target  string `yaml:"target" target:"unit" required:"true" doc:"the member: leader, replica, any_replica, sync_standby, member:NAME or a service"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Process string `yaml:"process" target:"process" required:"true" doc:"the process: postmaster, patroni, walreceiver, pgbouncer, or a name defined in the cluster block's processes"`
	Signal  string `yaml:"signal" doc:"signal name or number, e.g. SIGKILL, SIGTERM, HUP, 9"`
	Keep    bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target, index and signal.
func (s *Kill) Validate() error {
	if !dsl.HasRefs(s.Signal) {
		if _, err := signal.Parse(s.Signal); err != nil {
			return steps.FieldErrorf("signal", "%v", err)
		}
	}
	return steps.ValidateUnit(s.Target, s.Index)
}

// Run finds the process in every unit first (nothing is signalled when one
// is missing or a kill could not be undone), then signals each.
func (s *Kill) Run(ctx context.Context, env *steps.Env) error {
	sig, err := signal.Parse(s.Signal)
	if err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	return runFault(ctx, env, procFault{
		target: s.Target, index: s.Index, name: s.Process, keep: s.Keep, op: opStart, sig: sig,
		verb: "kill", done: "killed", with: " with " + sig.String(),
		plan: func(p platform.Platform, l located) (string, error) { return killPlan(p, l, sig) },
		whole: func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error) {
			return p.Kill(ctx, u, sig)
		},
		wholeUndo: member.OpStart,
	})
}

// Freeze stops one process of each unit of the target with SIGSTOP.
type Freeze struct {
	Target  string `yaml:"target" target:"unit" required:"true" doc:"the member: leader, replica, any_replica, sync_standby, member:NAME or a service"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Process string `yaml:"process" target:"process" required:"true" doc:"the process: postmaster, patroni, walreceiver, pgbouncer, or a name defined in the cluster block's processes"`
	Keep    bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target and index.
func (s *Freeze) Validate() error { return steps.ValidateUnit(s.Target, s.Index) }

// Run freezes the process in every unit; undone by SIGCONT to the same pid.
func (s *Freeze) Run(ctx context.Context, env *steps.Env) error {
	return runFault(ctx, env, procFault{
		target: s.Target, index: s.Index, name: s.Process, keep: s.Keep, op: opThaw, sig: sigSTOP,
		verb: "freeze", done: "froze", with: " with SIGSTOP",
		plan: func(platform.Platform, located) (string, error) { return "the end of the run thaws it (SIGCONT)", nil },
		whole: func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error) {
			return p.Pause(ctx, u)
		},
		wholeUndo: member.OpUnpause,
	})
}

// Thaw sends SIGCONT to a frozen process.
type Thaw struct {
	Target  string `yaml:"target" target:"unit" required:"true" doc:"the member: leader, replica, any_replica, sync_standby, member:NAME or a service"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Process string `yaml:"process" target:"process" required:"true" doc:"the process: postmaster, patroni, walreceiver, pgbouncer, or a name defined in the cluster block's processes"`
}

// Validate checks the target and index.
func (s *Thaw) Validate() error { return steps.ValidateUnit(s.Target, s.Index) }

// Run thaws what process.freeze froze in each unit, and marks it undone.
func (s *Thaw) Run(ctx context.Context, env *steps.Env) error {
	p, vs, err := env.Victims(ctx, s.Target, s.Index)
	if err != nil {
		return err
	}
	mem := memoryOf(env)
	err = steps.EachVictim(vs, func(_ int, v steps.Victim) error {
		key := faultKey(v, s.Process)
		rec, ok := mem.get(key, opThaw)
		if !ok {
			l, err := locateOne(ctx, env, p, v, s.Process)
			if err != nil {
				return err
			}
			rec = record{pid: l.proc.PID, whole: l.whole}
		}
		if rec.whole {
			if err := p.Unpause(ctx, v.Unit); err != nil {
				return err
			}
			env.Logf("thawed %s: it is the main process of %s, so the whole %s was unpaused", s.Process, v, v.Unit.Noun)
			mem.forget(key, opThaw)
			return env.Faults.Resolved(member.OpUnpause, v.Key())
		}
		if err := cont(ctx, p, v.Unit, rec.pid); err != nil {
			return err
		}
		env.Logf("thawed %s (pid %d) in %s with SIGCONT", s.Process, rec.pid, v)
		mem.forget(key, opThaw)
		return env.Faults.Resolved(opThaw, key)
	})
	if err != nil {
		return err
	}
	return env.Record("thawed_at", time.Now())
}

// Start starts a process again now.
type Start struct {
	Target  string `yaml:"target" target:"unit" required:"true" doc:"the member: leader, replica, any_replica, sync_standby, member:NAME or a service"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Process string `yaml:"process" target:"process" required:"true" doc:"the process: postmaster, patroni, walreceiver, pgbouncer, or a name defined in the cluster block's processes"`
}

// Validate checks the target and index.
func (s *Start) Validate() error { return steps.ValidateUnit(s.Target, s.Index) }

// Run starts the process in every unit where it does not run, waits until
// it runs, and marks the kills of it undone.
func (s *Start) Run(ctx context.Context, env *steps.Env) error {
	p, vs, err := env.Victims(ctx, s.Target, s.Index)
	if err != nil {
		return err
	}
	spec, err := specOf(env, s.Process)
	if err != nil {
		return err
	}
	mem := memoryOf(env)
	pids := make([]int, len(vs))
	var mu sync.Mutex
	var last time.Time
	err = steps.EachVictim(vs, func(i int, v steps.Victim) error {
		key := faultKey(v, s.Process)
		if rec, ok := mem.get(key, opStart); ok && rec.whole {
			if err := p.Start(ctx, v.Unit); err != nil {
				return err
			}
			mem.forget(key, opStart)
			if err := env.Faults.Resolved(member.OpStart, v.Key()); err != nil {
				return err
			}
		} else {
			r := restartOf(p, s.Process, spec)
			pr, found, err := find(ctx, p, v.Unit, spec)
			switch {
			case err != nil:
				return err
			case found:
				env.Logf("%s already runs in %s (pid %d): nothing to start", s.Process, v, pr.PID)
			case r.Start == nil && !r.Unit:
				return fmt.Errorf("%s does not run in %s and nothing starts it: set the cluster block's processes.%s.start to the command that starts it in the member", s.Process, v, s.Process)
			default:
				if err := startProcess(ctx, p, v.Unit, r); err != nil {
					return fmt.Errorf("starting %s in %s: %w", s.Process, v, err)
				}
				env.Logf("started %s in %s with %s", s.Process, v, r.how())
			}
			mem.forget(key, opStart)
			if err := env.Faults.Resolved(opStart, key); err != nil {
				return err
			}
		}
		pr, at, err := waitRunning(ctx, p, v.Unit, spec)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", s.Process, v, err)
		}
		env.Logf("%s runs in %s: pid %d at %s", s.Process, v, pr.PID, at.Format("15:04:05.000"))
		pids[i] = pr.PID
		mu.Lock()
		if at.After(last) {
			last = at
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	if err := recordPIDs(env, vs, pids); err != nil {
		return err
	}
	return env.Record("started_at", last)
}

// located is a process found in a unit.
type located struct {
	v     steps.Victim
	name  string
	spec  cluster.Process
	proc  proc
	whole bool // PID 1 of a container: the platform acts on the whole unit
}

// specOf is the named process of the scenario's cluster block.
func specOf(env *steps.Env, name string) (cluster.Process, error) {
	spec, ok := env.Cluster().Process(name)
	if !ok {
		names := env.Cluster().ProcessNames()
		return spec, fmt.Errorf("no process %q: use %s, or define it in the cluster block's processes%s", name, dsl.OneOf(names), dsl.DidYouMean(name, names))
	}
	return spec, nil
}

// locateOne finds the named process in v's unit; one that does not run is
// an error naming the member and how it was looked for.
func locateOne(ctx context.Context, env *steps.Env, p platform.Platform, v steps.Victim, name string) (located, error) {
	spec, err := specOf(env, name)
	if err != nil {
		return located{}, err
	}
	pr, found, err := find(ctx, p, v.Unit, spec)
	if err != nil {
		return located{}, fmt.Errorf("looking for %s in %s: %w", name, v, err)
	}
	if !found {
		return located{}, fmt.Errorf("no %s process in %s: nothing is %s (set the cluster block's processes.%s to find it otherwise)", name, v, describe(spec), name)
	}
	l := located{v: v, name: name, spec: spec, proc: pr}
	if pr.PID == 1 {
		if p.Ref().DriverName() != platform.Compose {
			return located{}, fmt.Errorf("%s in %s is pid 1, the init of the host: drill does not signal it", name, v)
		}
		l.whole = true
	}
	return l, nil
}

// procFault is a fault sent as a signal to one process of each unit.
type procFault struct {
	target, name string
	index        int
	keep         bool
	op           string // the undo op
	sig          signal.Signal
	verb, done   string // "kill", "killed"
	with         string // " with SIGKILL"
	// plan says what undoes the fault, or refuses it, before any signal.
	plan func(p platform.Platform, l located) (string, error)
	// whole applies the fault to a whole unit, when the process is the
	// container's main process, undone by wholeUndo.
	whole     func(ctx context.Context, p platform.Platform, u platform.Unit) (platform.Effect, error)
	wholeUndo string
}

// runFault resolves the target and the process in each unit, plans every
// undo, records the fault metrics, then signals the processes through the
// ledger. fault_at is the latest effect.
func runFault(ctx context.Context, env *steps.Env, f procFault) error {
	p, vs, err := env.Victims(ctx, f.target, f.index)
	if err != nil {
		return err
	}
	if err := env.PrepareFault(ctx, vs); err != nil {
		return err
	}
	ls := make([]located, len(vs))
	undos := make([]string, len(vs))
	for i, v := range vs {
		if ls[i], err = locateOne(ctx, env, p, v, f.name); err != nil {
			return err
		}
		if !ls[i].whole {
			if undos[i], err = f.plan(p, ls[i]); err != nil {
				return err
			}
		}
	}
	mem := memoryOf(env)
	effects := make([]platform.Effect, len(vs))
	pids := make([]int, len(vs))
	err = steps.EachVictim(vs, func(i int, v steps.Victim) error {
		l := ls[i]
		pids[i] = l.proc.PID
		key := faultKey(v, f.name)
		if l.whole {
			flt := fault.Fault{
				Desc:   fmt.Sprintf("%s %s (pid 1, the main process of %s: the whole %s)%s", f.verb, f.name, v, v.Unit.Noun, f.with),
				Target: v.Key(), Undo: steps.NewUndo(f.wholeUndo, p, nil, v), Keep: f.keep,
			}
			err := env.Faults.Inject(ctx, flt, func(ctx context.Context) error {
				var err error
				effects[i], err = f.whole(ctx, p, v.Unit)
				return err
			})
			if err != nil {
				return err
			}
			mem.put(key, f.op, record{pid: 1, whole: true})
			env.Logf("%s %s (pid 1) in %s%s: it is the %s's main process, which the kernel shields from signals sent inside it, so the whole %s was hit through the platform; in effect at %s, dated by %s",
				f.done, f.name, v, f.with, v.Unit.Noun, v.Unit.Noun, effects[i].At.Format("15:04:05.000"), effects[i].Source)
			return nil
		}
		args := undoArgs{
			UndoArgs: steps.UndoArgs{Ref: p.Ref(), Units: platform.ArgsOf(v.Unit)},
			Process:  f.name, PID: l.proc.PID, Signal: f.sig.String(), Find: l.spec,
			Restart: restartOf(p, f.name, l.spec), Cont: stops(f.sig),
		}
		flt := fault.Fault{
			Desc:   fmt.Sprintf("%s %s (pid %d) in %s%s; undo: %s", f.verb, f.name, l.proc.PID, v, f.with, undos[i]),
			Target: key, Undo: fault.NewAction(f.op, args), Keep: f.keep,
		}
		err := env.Faults.Inject(ctx, flt, func(ctx context.Context) error {
			if _, err := run(ctx, p, v.Unit, killArgv(f.sig, l.proc.PID)); err != nil {
				return err
			}
			effects[i] = platform.Effect{At: time.Now(), Source: "the request (drill's clock when kill returned)"}
			return nil
		})
		if err != nil {
			return err
		}
		mem.put(key, f.op, record{pid: l.proc.PID})
		env.Logf("%s %s (pid %d) in %s%s at %s, dated by %s; undo: %s", f.done, f.name, l.proc.PID, v, f.with,
			effects[i].At.Format("15:04:05.000"), effects[i].Source, undos[i])
		return nil
	})
	if err != nil {
		return err
	}
	if err := recordPIDs(env, vs, pids); err != nil {
		return err
	}
	last := slices.MaxFunc(effects, func(a, b platform.Effect) int { return a.At.Compare(b.At) })
	return env.Record("fault_at", last.At)
}

// recordPIDs records pids and, of the last unit, pid.
func recordPIDs(env *steps.Env, vs []steps.Victim, pids []int) error {
	m := map[string]string{}
	for i, v := range vs {
		m[v.Unit.Name] = strconv.Itoa(pids[i])
	}
	if err := env.Record("pids", m); err != nil {
		return err
	}
	return env.Record("pid", pids[len(pids)-1])
}

// faultKey names the process of a unit in the ledger's fault targets:
// "service#N/patroni".
func faultKey(v steps.Victim, name string) string { return v.Key() + "/" + name }

func killArgv(sig signal.Signal, pid int) []string {
	return []string{"kill", "-s", strconv.Itoa(int(sig)), strconv.Itoa(pid)}
}

const (
	sigSTOP signal.Signal = 19
	sigCONT signal.Signal = 18
)

// stops reports whether sig stops a process rather than ending it: the undo
// then sends SIGCONT first.
func stops(sig signal.Signal) bool {
	switch sig.String() {
	case "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU":
		return true
	}
	return false
}

// ends reports whether sig may end the process: not the signals whose
// default is to be ignored or to stop, nor SIGHUP for the built-in
// processes (each reloads its configuration on it).
func ends(sig signal.Signal, name string) bool {
	switch sig.String() {
	case "SIGCONT", "SIGCHLD", "SIGURG", "SIGWINCH":
		return false
	case "SIGHUP":
		_, builtin := cluster.BuiltinProcesses[name]
		return !builtin
	}
	return !stops(sig)
}

// cont sends SIGCONT to pid in u; a pid that is gone is fine.
func cont(ctx context.Context, p platform.Platform, u platform.Unit, pid int) error {
	_, err := run(ctx, p, u, killArgv(sigCONT, pid))
	if e, ok := err.(*exitError); ok && strings.Contains(e.msg, "No such process") {
		return nil
	}
	return err
}

// restart is how a killed process comes back: by its own start command, by
// the platform starting the unit's services, or by its parent (nothing to
// do). The zero restart means nothing brings it back.
type restart struct {
	Start []string `json:"start,omitempty"`
	User  string   `json:"user,omitempty"`
	Unit  bool     `json:"unit_start,omitempty"`
	By    string   `json:"restarted_by,omitempty"`
}

// restartOf is how the named process comes back on p.
func restartOf(p platform.Platform, name string, spec cluster.Process) restart {
	switch {
	case len(spec.Start) > 0:
		return restart{Start: spec.Start, User: spec.User}
	case name == cluster.Postmaster:
		return restart{By: "Patroni restarts the postmaster"}
	case name == cluster.Walreceiver:
		return restart{By: "the postmaster restarts the walreceiver"}
	case p.Ref().DriverName() != platform.Compose:
		return restart{Unit: true}
	}
	return restart{}
}

// how says how r starts the process, for logs.
func (r restart) how() string {
	switch {
	case r.Start != nil && r.User != "":
		return fmt.Sprintf("%q as %s", strings.Join(r.Start, " "), r.User)
	case r.Start != nil:
		return fmt.Sprintf("%q", strings.Join(r.Start, " "))
	case r.Unit:
		return "the platform's start of the host's units"
	}
	return "nothing"
}

// killPlan says what undoes a kill of l, or refuses one that nothing would
// undo.
func killPlan(p platform.Platform, l located, sig signal.Signal) (string, error) {
	r := restartOf(p, l.name, l.spec)
	switch {
	case r.By != "":
		return "nothing to undo: " + r.By, nil
	case r.Start != nil || r.Unit:
		return "the end of the run starts it with " + r.how() + " unless it runs", nil
	case ends(sig, l.name):
		eg := ""
		if l.name == cluster.Patroni {
			eg = " (the test bed's: processes: {patroni: {start: [testbed-patroni, start]}})"
		}
		return "", fmt.Errorf("refusing to kill %s (pid %d) in %s with %s: nothing would start it again at the end of the run; set the cluster block's processes.%s.start to the command that starts it in the member%s",
			l.name, l.proc.PID, l.v, sig, l.name, eg)
	}
	return "nothing to undo: " + sig.String() + " does not end it", nil
}

// startProcess runs r's start in u.
func startProcess(ctx context.Context, p platform.Platform, u platform.Unit, r restart) error {
	if r.Unit {
		return p.Start(ctx, u)
	}
	argv := r.Start
	if r.User != "" {
		argv = append([]string{"runuser", "-u", r.User, "--"}, argv...)
	}
	_, err := run(ctx, p, u, argv)
	return err
}

// waitRunning polls until the process runs in u and returns it with the time
// it was first seen.
func waitRunning(ctx context.Context, p platform.Platform, u platform.Unit, spec cluster.Process) (proc, time.Time, error) {
	start := time.Now()
	for {
		pr, found, err := find(ctx, p, u, spec)
		if err != nil {
			return proc{}, time.Time{}, err
		}
		if found {
			return pr, time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return proc{}, time.Time{}, fmt.Errorf("not running %.1f s after the start (%s): %w", time.Since(start).Seconds(), describe(spec), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// undoArgs are a process fault's undo arguments in the ledger: the unit,
// the pid signalled, how the process is found and started again.
type undoArgs struct {
	steps.UndoArgs
	Process string          `json:"process"`
	PID     int             `json:"pid"`
	Signal  string          `json:"signal"`
	Find    cluster.Process `json:"find"`
	Restart restart         `json:"restart"`
	// Cont: the signal stopped the process; the undo sends SIGCONT first.
	Cont bool `json:"cont,omitempty"`
}

// undoTimeout bounds the wait for a started process in an undo.
const undoTimeout = time.Minute

// onUnit decodes a process fault's ledger arguments and runs fn on its unit.
func onUnit(ctx context.Context, c fault.Connector, op string, raw json.RawMessage, fn func(p platform.Platform, u platform.Unit, a undoArgs) error) error {
	var a undoArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("%s: bad arguments in the ledger (%s): %w", op, raw, err)
	}
	return steps.OnPlatform(ctx, c, op, raw, func(p platform.Platform, _ steps.UndoArgs) error {
		if len(a.Units) != 1 {
			return fmt.Errorf("%s: the ledger entry names %d units, not one: %s", op, len(a.Units), raw)
		}
		return fn(p, a.Units[0].Unit(), a)
	})
}

// undoThaw sends SIGCONT to the frozen pid.
func undoThaw(ctx context.Context, c fault.Connector, raw json.RawMessage) error {
	return onUnit(ctx, c, opThaw, raw, func(p platform.Platform, u platform.Unit, a undoArgs) error {
		return cont(ctx, p, u, a.PID)
	})
}

// undoStart undoes a kill: SIGCONT after a stop signal, then the process's
// start unless it runs again (or its parent restarts it).
func undoStart(ctx context.Context, c fault.Connector, raw json.RawMessage) error {
	return onUnit(ctx, c, opStart, raw, func(p platform.Platform, u platform.Unit, a undoArgs) error {
		if a.Cont {
			if err := cont(ctx, p, u, a.PID); err != nil {
				return err
			}
		}
		if a.Restart.Start == nil && !a.Restart.Unit {
			return nil
		}
		if _, found, err := find(ctx, p, u, a.Find); err != nil || found {
			return err
		}
		if err := startProcess(ctx, p, u, a.Restart); err != nil {
			return fmt.Errorf("starting %s in %s: %w", a.Process, u.Name, err)
		}
		ctx, cancel := context.WithTimeout(ctx, undoTimeout)
		defer cancel()
		_, _, err := waitRunning(ctx, p, u, a.Find)
		return err
	})
}

// record is what a process fault of this run left on a unit, for the step
// that reverses it.
type record struct {
	pid   int
	whole bool
}

// memory holds the run's process faults by fault key and undo op.
type memory struct {
	mu   sync.Mutex
	recs map[[2]string]record
}

func memoryOf(env *steps.Env) *memory {
	return steps.State(env.Ports, "process", func() *memory { return &memory{recs: map[[2]string]record{}} })
}

func (m *memory) put(key, op string, r record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[[2]string{key, op}] = r
}

func (m *memory) get(key, op string) (record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[[2]string{key, op}]
	return r, ok
}

func (m *memory) forget(key, op string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, [2]string{key, op})
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step      = (*Kill)(nil)
	_ steps.Validator = (*Kill)(nil)
	_ steps.Step      = (*Freeze)(nil)
	_ steps.Validator = (*Freeze)(nil)
	_ steps.Step      = (*Thaw)(nil)
	_ steps.Validator = (*Thaw)(nil)
	_ steps.Step      = (*Start)(nil)
	_ steps.Validator = (*Start)(nil)
)
