package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/platform"
)

// This file is what every fault kind shares: resolving a target to the
// platform's units, the metrics a fault records, and the undo arguments that
// `drill cleanup` can replay from the ledger alone.

// FaultMetrics are recorded by every fault step. Other kinds measure from
// them (rto_s from the latest fault_at, a new leader against leader_before):
// keep the names.
var FaultMetrics = []metric.Spec{
	{Name: "fault_at", Type: metric.Time, Doc: "when the fault took effect on the last unit: for compose.stop, compose.kill and compose.pause the Docker Engine's own time of its event for the stop signal, the signal or the freeze (when no event comes within 2 s of the engine's answer, the time of the request; the step log says which); for compose.restart when the restart was requested; for the network kinds right after iptables or tc confirmed it; for process.kill and process.freeze the request: drill's clock when the kill command returned in the member (the engine's event when the process is a container's main process)", Resolution: "the engine's event clock for container faults; one platform round trip otherwise (process faults: a docker exec or an SSH command)"},
	{Name: "service", Type: metric.String, Doc: "the service hit (several joined by commas; for a partition, the first group's)"},
	{Name: "member", Type: metric.String, Doc: "the Patroni member it runs, when known (several joined by commas)"},
	{Name: "containers", Type: metric.StringList, Doc: "the names of every unit (container) the fault touched"},
	{Name: "leader_before", Type: metric.String, Doc: "the Patroni leader just before the fault; recorded only when the cluster block names Patroni and it reported a leader"},
}

// LagMBMetric is lag_mb, recorded alike by patroni.status and pg.lag.
var LagMBMetric = metric.Spec{Name: "lag_mb", Type: metric.Number, Doc: "the largest replication lag in MiB (leader's WAL position minus a standby's replay position), from SQL"}

// ValidateUnit checks a target and a unit index at load time.
func ValidateUnit(target string, index int) error {
	if index < 0 {
		return FieldErrorf("index", "must be a container number, 1 or more")
	}
	return ValidateTarget("target", target)
}

// Victim is one unit a step acts on, and what drill knows of it.
type Victim struct {
	Unit   platform.Unit
	Member Member
}

// Key names the unit in fault targets and netfault: "service#N".
func (v Victim) Key() string { return v.Unit.Key() }

// String describes the unit for fault descriptions and logs:
// "container x_db_1 (service db, member db, the leader)".
func (v Victim) String() string {
	parts := []string{"service " + v.Unit.Service}
	if v.Member.Name != "" {
		parts = append(parts, "member "+v.Member.Name)
	}
	if r := roleWords(v.Member.Role); r != "" {
		parts = append(parts, r)
	}
	noun := v.Unit.Noun
	if noun == "" {
		noun = "unit"
	}
	return fmt.Sprintf("%s %s (%s)", noun, v.Unit.Name, strings.Join(parts, ", "))
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

// Victims returns the scenario's platform and the units target stands for
// (index 0: every unit of each service).
func (e *Env) Victims(ctx context.Context, target string, index int) (platform.Platform, []Victim, error) {
	p, err := e.Ports.Platform(ctx)
	if err != nil {
		return nil, nil, err
	}
	vs, err := e.VictimsOn(ctx, p, target, index)
	return p, vs, err
}

// VictimsOn resolves target (a service or a role) to units of p.
func (e *Env) VictimsOn(ctx context.Context, p platform.Platform, target string, index int) ([]Victim, error) {
	members, err := e.Members(ctx, target)
	if err != nil {
		return nil, err
	}
	var out []Victim
	for _, m := range members {
		units, err := p.Units(ctx, m.Service)
		if err != nil && IsRole(target) {
			return nil, fmt.Errorf("%s is Patroni member %q, taken to run in service %q: %w (map it with cluster.members.%s.service)", target, m.Name, m.Service, err, m.Name)
		}
		if err != nil {
			return nil, err
		}
		if index != 0 {
			i := slices.IndexFunc(units, func(u platform.Unit) bool { return u.Number == index })
			if i < 0 {
				var numbers []string
				for _, u := range units {
					numbers = append(numbers, strconv.Itoa(u.Number))
				}
				return nil, fmt.Errorf("no container number %d for service %q in %s (numbers: %s)", index, m.Service, p.Ref(), strings.Join(numbers, ", "))
			}
			units = units[i : i+1]
		}
		for _, u := range units {
			out = append(out, Victim{Unit: u, Member: m})
		}
	}
	return out, nil
}

// EachVictim runs fn for every unit at once, so that a fault hits a scaled
// service's units at nearly the same moment, and joins the errors.
func EachVictim(vs []Victim, fn func(i int, v Victim) error) error {
	errs := make([]error, len(vs))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Go(func() { errs[i] = fn(i, v) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// PrepareFault fills in the victims' Patroni members and roles, in place,
// and records what the fault is about to hit: the leader just before it
// (when the cluster block names Patroni and it answers; otherwise
// leader_before stays unrecorded), service and member (of hit), and
// containers (of hit and the others).
func (e *Env) PrepareFault(ctx context.Context, hit []Victim, others ...[]Victim) error {
	all := append([][]Victim{hit}, others...)
	if cl, ok := e.patroniSnapshot(ctx); ok {
		for _, vs := range all {
			for i := range vs {
				annotate(&vs[i].Member, cl)
			}
		}
		if leader := cl.LeaderName(); leader != "" {
			if err := e.Record("leader_before", leader); err != nil {
				return err
			}
		} else {
			e.Logf("leader_before not recorded: Patroni reports no leader (members: %s)", DescribeRoles(cl))
		}
	}
	var services, members, units []string
	for _, v := range hit {
		services = appendNew(services, v.Unit.Service)
		if v.Member.Name != "" {
			members = appendNew(members, v.Member.Name)
		}
	}
	for _, v := range slices.Concat(all...) {
		units = append(units, v.Unit.Name)
	}
	if len(members) > 0 {
		if err := e.Record("member", strings.Join(members, ",")); err != nil {
			return err
		}
	}
	if err := e.Record("service", strings.Join(services, ",")); err != nil {
		return err
	}
	return e.Record("containers", units)
}

// FaultApplied records fault_at: now, right after the fault was confirmed.
func (e *Env) FaultApplied() error { return e.Record("fault_at", time.Now()) }

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// patroniSnapshot returns Patroni's /cluster when the cluster block names a
// Patroni REST API; a failed call is logged and reported as not ok.
func (e *Env) patroniSnapshot(ctx context.Context) (patroni.Cluster, bool) {
	if !e.Cluster().NamesPatroni() {
		return patroni.Cluster{}, false
	}
	client, err := e.Ports.Patroni()
	if err == nil {
		var snap patroni.Cluster
		if snap, err = client.Cluster(ctx); err == nil {
			return snap, true
		}
	}
	e.Logf("leader_before not recorded: %v", err)
	e.Logger.WarnContext(ctx, "leader before the fault unknown", "error", err)
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

// UndoArgs are a platform fault's undo arguments in the ledger. They name
// everything the undo needs, since `drill cleanup` runs without the
// scenario's cluster block. The JSON names are those of earlier ledgers.
type UndoArgs struct {
	platform.Ref
	Units    []platform.UnitArgs `json:"containers"`
	Endpoint *platform.Endpoint  `json:"endpoint,omitempty"` // network.connect: the attachment to restore
}

// NewUndo builds the ledger's undo op for the units vs of p.
func NewUndo(op string, p platform.Platform, ep *platform.Endpoint, vs ...Victim) fault.Action {
	a := UndoArgs{Ref: p.Ref(), Endpoint: ep}
	for _, v := range vs {
		a.Units = append(a.Units, platform.ArgsOf(v.Unit)...)
	}
	return fault.NewAction(op, a)
}

// OnPlatform decodes an undo's arguments, connects to the platform they name
// and runs fn on it: the body of every platform fault's undo.
func OnPlatform(ctx context.Context, c fault.Connector, op string, raw json.RawMessage, fn func(p platform.Platform, a UndoArgs) error) error {
	var a UndoArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("%s: bad arguments in the ledger (%s): %w", op, raw, err)
	}
	if a.DriverName() == platform.Compose && a.Project == "" {
		return fmt.Errorf("%s: the ledger entry names no compose project: %s", op, raw)
	}
	p, err := c.PlatformAt(ctx, a.Ref)
	if err != nil {
		return err
	}
	return fn(p, a)
}

// UndoFailed says which unit an undo could not put back; one that is gone
// (removed, or the service scaled down) says so.
func UndoFailed(u platform.UnitArgs, verb string, err error) error {
	if errors.Is(err, platform.ErrNotFound) {
		return fmt.Errorf("cannot %s container %s: it is gone (removed or scaled down outside drill): %w", verb, u.Name, err)
	}
	return fmt.Errorf("cannot %s container %s: %w", verb, u.Name, err)
}
