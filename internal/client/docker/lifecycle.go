package docker

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/drill-dev/drill/internal/signal"
)

// State is what the engine says about a target's container.
type State struct {
	Target     Target // as asked for
	ID         string
	Name       string
	Status     string // created, running, paused, restarting, removing, exited or dead
	Running    bool   // true while paused too, as the engine reports it
	Paused     bool
	Restarting bool
	OOMKilled  bool
	Dead       bool
	ExitCode   int // of the last run; 128+n after signal n (137 after SIGKILL)
	Pid        int
	StartedAt  time.Time
	FinishedAt time.Time
	Networks   []NetworkState // sorted by Network
}

// NetworkState is the container's attachment to one network, as it is now.
type NetworkState struct {
	Network    string     // compose name ("cluster"); the engine's name for a network outside the project
	EngineName string     // "<project>_cluster"
	IP         netip.Addr // IPv4 address, invalid when none
	PrefixLen  int
	Gateway    netip.Addr
	Aliases    []string
	MAC        string
}

// Inspect returns the state of t's container.
func (p *Project) Inspect(ctx context.Context, t Target) (State, error) {
	r, err := p.resolve(ctx, t)
	if err != nil {
		return State{}, err
	}
	p.debug(ctx, "inspect", r)
	c, err := p.e.api.ContainerInspect(ctx, r.id)
	if err != nil {
		return State{}, p.fail("inspect", r, err)
	}
	names, err := p.networkNames(ctx)
	if err != nil {
		return State{}, err
	}
	s := State{Target: r.t, ID: c.ID, Name: r.name}
	if st := c.State; st != nil {
		s.Status, s.Running, s.Paused, s.Restarting = st.Status, st.Running, st.Paused, st.Restarting
		s.OOMKilled, s.Dead, s.ExitCode, s.Pid = st.OOMKilled, st.Dead, st.ExitCode, st.Pid
		s.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
		s.FinishedAt, _ = time.Parse(time.RFC3339Nano, st.FinishedAt)
	}
	if c.NetworkSettings != nil {
		for engineName, ep := range c.NetworkSettings.Networks {
			ns := NetworkState{Network: engineName, EngineName: engineName, PrefixLen: ep.IPPrefixLen, Aliases: ep.Aliases, MAC: ep.MacAddress}
			if compose, ok := names[engineName]; ok {
				ns.Network = compose
			}
			ns.IP, _ = netip.ParseAddr(ep.IPAddress)
			ns.Gateway, _ = netip.ParseAddr(ep.Gateway)
			s.Networks = append(s.Networks, ns)
		}
		slices.SortFunc(s.Networks, func(a, b NetworkState) int { return cmp.Compare(a.Network, b.Network) })
	}
	return s, nil
}

// Stop sends SIGTERM (or the image's stop signal), waits up to grace, then SIGKILLs. grace is
// rounded up to whole seconds; a negative grace uses the container's own stop timeout (engine
// default 10 s). ctx must outlive grace. Stopping a stopped container succeeds.
//
// The Effect is the engine's first event for the container: "kill" when it sent the stop
// signal, the moment the service starts shutting down.
func (p *Project) Stop(ctx context.Context, t Target, grace time.Duration) (Effect, error) {
	return p.fault(ctx, "stop", t, func(id string) error {
		return p.e.api.ContainerStop(ctx, id, container.StopOptions{Timeout: seconds(grace)})
	})
}

// Restart stops t's container like Stop, then starts it.
func (p *Project) Restart(ctx context.Context, t Target, grace time.Duration) error {
	return p.do(ctx, "restart", t, func(id string) error {
		return p.e.api.ContainerRestart(ctx, id, container.StopOptions{Timeout: seconds(grace)})
	})
}

func seconds(d time.Duration) *int {
	if d < 0 {
		return nil
	}
	s := int(math.Ceil(d.Seconds()))
	return &s
}

// Kill sends sig (SIGKILL when zero) to the container's main process. Killing a container
// that is not running is an error: the drill's assumption about the world was wrong. The
// Effect is the engine's "kill" event.
func (p *Project) Kill(ctx context.Context, t Target, sig signal.Signal) (Effect, error) {
	if sig == 0 {
		sig = signal.SIGKILL
	}
	return p.fault(ctx, "kill ("+sig.String()+")", t, func(id string) error {
		return p.e.api.ContainerKill(ctx, id, strconv.Itoa(int(sig)))
	})
}

// Pause freezes every process of t's container (cgroup freezer). Pausing a paused or stopped
// container is an error. The Effect is the engine's "pause" event.
func (p *Project) Pause(ctx context.Context, t Target) (Effect, error) {
	return p.fault(ctx, "pause", t, func(id string) error { return p.e.api.ContainerPause(ctx, id) })
}

// Effect says when a container fault took effect, and how drill knows.
type Effect struct {
	// At is the engine's own time (timeNano) of its first kill, pause, die or stop event for
	// the container at or after the request; the time the request was sent when no such event
	// arrived within EventWait of the engine's answer.
	At time.Time
	// Event is that event's action ("kill", "pause", ...); "" when At is the request's time.
	Event string
}

// EventWait bounds how long a fault waits for the engine's event once the engine answered.
const EventWait = 2 * time.Second

// faultEvents are the container events that mark a fault taking effect.
var faultEvents = []string{"kill", "pause", "die", "stop"}

// fault is do for a fault: it subscribes to the container's events from the moment of the
// request (the engine replays events since then, so none is missed however late the
// subscription gets through) and dates the fault by the first one.
func (p *Project) fault(ctx context.Context, op string, t Target, fn func(id string) error) (Effect, error) {
	var eff Effect
	err := p.do(ctx, op, t, func(id string) error {
		evCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		requested := time.Now()
		args := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("container", id))
		for _, a := range faultEvents {
			args.Add("event", a)
		}
		msgs, errs := p.e.api.Events(evCtx, events.ListOptions{Since: requested.UTC().Format(time.RFC3339Nano), Filters: args})
		if err := fn(id); err != nil {
			return err
		}
		eff = Effect{At: requested}
		timer := time.NewTimer(EventWait)
		defer timer.Stop()
		select {
		case m := <-msgs:
			eff = Effect{At: time.Unix(0, m.TimeNano), Event: string(m.Action)}
		case err := <-errs:
			p.e.log.WarnContext(ctx, "docker "+op+": no engine event, dating the fault from the request", "container", id, "error", err)
		case <-timer.C:
			p.e.log.WarnContext(ctx, "docker "+op+": no engine event in time, dating the fault from the request", "container", id, "waited", EventWait)
		}
		return nil
	})
	return eff, err
}

// Unpause thaws t's container. Undo-safe: a container that is not paused (running, stopped)
// is left alone and Unpause succeeds.
func (p *Project) Unpause(ctx context.Context, t Target) error {
	return p.undo(ctx, "unpause", t,
		func(id string) error { return p.e.api.ContainerUnpause(ctx, id) },
		func(s *container.State) bool { return !s.Paused })
}

// Start starts t's container. Undo-safe: a container that already runs (paused included; use
// Unpause for that) is left alone and Start succeeds.
func (p *Project) Start(ctx context.Context, t Target) error {
	return p.undo(ctx, "start", t,
		func(id string) error { return p.e.api.ContainerStart(ctx, id, container.StartOptions{}) },
		func(s *container.State) bool { return s.Running })
}

// do resolves t and runs op on its container, logging it.
func (p *Project) do(ctx context.Context, op string, t Target, fn func(id string) error) error {
	r, err := p.resolve(ctx, t)
	if err != nil {
		return err
	}
	p.e.log.InfoContext(ctx, "docker "+op, "project", p.name, "target", r.t.String(), "container", r.name)
	if err := fn(r.id); err != nil {
		return p.fail(op, r, err)
	}
	return nil
}

// debug logs an Engine API call on r's container at debug level.
func (p *Project) debug(ctx context.Context, op string, r ref, args ...any) {
	p.e.log.DebugContext(ctx, "docker "+op, append([]any{"project", p.name, "target", r.t.String(), "container", r.name}, args...)...)
}

// undo is do for an undo operation: when fn fails but the container is in the wanted state
// anyway (done reports true), it succeeds. The state is checked after the failure, not before,
// so a change between the two cannot make it lie.
func (p *Project) undo(ctx context.Context, op string, t Target, fn func(id string) error, done func(*container.State) bool) error {
	return p.do(ctx, op, t, func(id string) error {
		err := fn(id)
		if err == nil {
			return nil
		}
		c, ierr := p.e.api.ContainerInspect(ctx, id)
		if ierr == nil && c.State != nil && done(c.State) {
			p.e.log.DebugContext(ctx, "docker "+op+": already done", "container", id)
			return nil
		}
		return err
	})
}

// String describes s in one line, for logs and reports.
func (s State) String() string {
	return fmt.Sprintf("%s %s (exit %d, oom %t)", s.Name, s.Status, s.ExitCode, s.OOMKilled)
}

// Logs returns what t's container wrote to stdout and stderr since the given time (zero: from
// the start), interleaved as written, each line prefixed with the engine's RFC 3339 timestamp.
func (p *Project) Logs(ctx context.Context, t Target, since time.Time) ([]byte, error) {
	r, err := p.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	opts := container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = since.UTC().Format(time.RFC3339Nano)
	}
	p.debug(ctx, "logs", r, "since", opts.Since)
	info, err := p.e.api.ContainerInspect(ctx, r.id)
	if err != nil {
		return nil, p.fail("inspect", r, err)
	}
	rc, err := p.e.api.ContainerLogs(ctx, r.id, opts)
	if err != nil {
		return nil, p.fail("read the logs of", r, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if info.Config != nil && info.Config.Tty {
		_, err = io.Copy(&out, rc)
	} else {
		_, err = stdcopy.StdCopy(&out, &out, rc)
	}
	if err != nil {
		return nil, p.fail("read the logs of", r, err)
	}
	return out.Bytes(), nil
}
