package steps

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/client/pg"
)

// This file resolves what steps act on: targets written as a service, a
// member or a role, to Patroni members, and SQL targets to PostgreSQL nodes.

// Roles a target may name, resolved at run time from Patroni's /cluster.
const (
	RoleLeader      = "leader"       // the current leader
	RoleReplicas    = "replica"      // every running replica
	RoleAnyReplica  = "any_replica"  // one running replica (the first by name)
	RoleSyncStandby = "sync_standby" // the synchronous standby
	memberPrefix    = "member:"      // member:NAME, a Patroni member by name
)

// OnPooled names the pooled endpoint (cluster.pooled_dsn) as a SQL target.
const OnPooled = "pooled"

// OnReplicaRoute names the read-only route to the replicas
// (cluster.replica_dsn, e.g. HAProxy's replica port) as a SQL target. Only
// steps that read take it (their on parameter's target tag has read).
const OnReplicaRoute = "replica_route"

// errNoReplicaDSN says why a step cannot read on the replica route when
// the cluster block gives none.
const errNoReplicaDSN = "replica_route needs cluster.replica_dsn: set it to the read-only route to the replicas (e.g. HAProxy's replica port)"

// OnAll names every member of the cluster block, up or down, as the target
// of the steps that run on each member and report per member.
const OnAll = "all"

// TargetHelp explains the target syntax, for parameter docs.
const TargetHelp = "a compose service (a host on platform hosts) or a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME, resolved from Patroni when the step runs"

// IsRole reports whether target names a role (resolved from Patroni) rather
// than a compose service.
func IsRole(target string) bool {
	switch target {
	case RoleLeader, RoleReplicas, RoleAnyReplica, RoleSyncStandby:
		return true
	}
	return strings.HasPrefix(target, memberPrefix)
}

// ValidateTarget checks a target's shape at load time.
func ValidateTarget(field, target string) error {
	if target == "" {
		return FieldErrorf(field, "must name %s", TargetHelp)
	}
	if name, ok := strings.CutPrefix(target, memberPrefix); ok && name == "" {
		return FieldErrorf(field, "member: needs a member name, e.g. member:postgres-standby1")
	}
	return nil
}

// Member is a Patroni member and the ways drill reaches it.
type Member struct {
	Name    string
	Role    string // leader, replica, sync_standby... as /cluster says; "" when not asked
	Service string // compose service running it
	DSN     string // "" when the cluster block gives none
	API     string // REST base URL; "" when unknown
}

// Members resolves a role or member target through Patroni's /cluster; a
// plain service name resolves to itself (with the member it runs, when the
// cluster block maps one to it); a group of the cluster block to each of
// its services, in the block's order.
func (e *Env) Members(ctx context.Context, target string) ([]Member, error) {
	if group, ok := e.Cluster().Group(target); ok {
		var out []Member
		for _, service := range group {
			ms, err := e.Members(ctx, service)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
		return out, nil
	}
	if !IsRole(target) {
		m := Member{Service: target}
		for name, cm := range e.Cluster().Members {
			if cm.Where() == target {
				m.Name, m.DSN, m.API = name, cm.DSN, cm.API
			}
		}
		if m.Name == "" {
			if cm, ok := e.Cluster().Members[target]; ok {
				m.Name, m.DSN, m.API = target, cm.DSN, cm.API
			}
		}
		return []Member{m}, nil
	}
	client, err := e.Ports.Patroni()
	if err != nil {
		return nil, err
	}
	cl, err := client.Cluster(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolving %q: %w", target, err)
	}
	var picked []patroni.ClusterMember
	var names []string
	for _, m := range cl.Members {
		names = append(names, m.Name)
		role := string(m.Role)
		running := m.State == "running" || m.State == "streaming"
		switch {
		case !running && target != memberPrefix+m.Name:
			continue // a role names running members; member:NAME any member
		case target == RoleLeader && (role == "leader" || role == "standby_leader"):
		case (target == RoleReplicas || target == RoleAnyReplica) && role != "leader" && role != "standby_leader":
		case target == RoleSyncStandby && role == "sync_standby":
		case target == memberPrefix+m.Name:
		default:
			continue
		}
		picked = append(picked, m)
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].Name < picked[j].Name })
	if target == RoleAnyReplica && len(picked) > 1 {
		picked = picked[:1]
	}
	if len(picked) == 0 {
		if name, ok := strings.CutPrefix(target, memberPrefix); ok {
			// A member cut off from the DCS drops out of /cluster once its
			// key expires; the cluster block still says how to reach it.
			if cm, known := e.Cluster().Members[name]; known {
				m := Member{Name: name, Service: name, DSN: cm.DSN, API: cm.API}
				if cm.Where() != "" {
					m.Service = cm.Where()
				}
				return []Member{m}, nil
			}
			return nil, fmt.Errorf("no Patroni member %q (members: %s)%s", name, strings.Join(names, ", "), dsl.DidYouMean(name, names))
		}
		return nil, fmt.Errorf("no member has the role %s now (members: %s)", target, DescribeRoles(cl))
	}
	out := make([]Member, len(picked))
	for i, pm := range picked {
		out[i] = e.MemberOf(pm)
	}
	return out, nil
}

// MemberOf fills in how to reach a Patroni member: the cluster block's
// mapping first, else the compose convention that the member's name (or
// its host) is its service.
func (e *Env) MemberOf(pm patroni.ClusterMember) Member {
	m := Member{Name: pm.Name, Role: string(pm.Role), Service: pm.Name}
	if cm, ok := e.Cluster().Members[pm.Name]; ok {
		if cm.Where() != "" {
			m.Service = cm.Where()
		}
		m.DSN, m.API = cm.DSN, cm.API
	}
	return m
}

// DescribeRoles lists members with their roles and states, for messages.
func DescribeRoles(cl patroni.Cluster) string {
	var parts []string
	for _, m := range cl.Members {
		parts = append(parts, fmt.Sprintf("%s %s/%s", m.Name, m.Role, m.State))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// MemberDSN returns the DSN of a resolved member, or an error saying what to
// add to the cluster block.
func MemberDSN(m Member) (string, error) {
	if m.DSN == "" {
		name := m.Name
		if name == "" {
			name = m.Service
		}
		return "", fmt.Errorf("no DSN for member %q: set cluster.members.%s.dsn", name, name)
	}
	return m.DSN, nil
}

// Nodes resolves a SQL target to the nodes to run on: an explicit DSN, the
// pooled endpoint, the replica route, or members (by role or service) with
// their DSNs.
func (e *Env) Nodes(ctx context.Context, on, dsn string) ([]pg.Node, error) {
	if dsn != "" {
		return []pg.Node{{Name: "dsn", DSN: dsn}}, nil
	}
	if on == OnAll {
		return e.AllMembers()
	}
	if on == OnPooled {
		if e.Cluster().PooledDSN == "" {
			return nil, fmt.Errorf("on: pooled needs cluster.pooled_dsn (e.g. the PgBouncer endpoint)")
		}
		return []pg.Node{{Name: OnPooled, DSN: e.Cluster().PooledDSN}}, nil
	}
	if on == OnReplicaRoute {
		if e.Cluster().ReplicaDSN == "" {
			return nil, errors.New("on: " + errNoReplicaDSN)
		}
		return []pg.Node{{Name: OnReplicaRoute, DSN: e.Cluster().ReplicaDSN}}, nil
	}
	members, err := e.Members(ctx, on)
	if err != nil {
		return nil, err
	}
	nodes := make([]pg.Node, 0, len(members))
	for _, m := range members {
		dsn, err := MemberDSN(m)
		if err != nil {
			return nil, err
		}
		name := m.Name
		if name == "" {
			name = m.Service
		}
		nodes = append(nodes, pg.Node{Name: name, DSN: dsn})
	}
	return nodes, nil
}

// AllMembers is every member of the cluster block as a SQL node, sorted by
// name, whatever its state: a member that is down is still listed, so that
// steps report it rather than drop it.
func (e *Env) AllMembers() ([]pg.Node, error) {
	names := make([]string, 0, len(e.Cluster().Members))
	for name := range e.Cluster().Members {
		names = append(names, name)
	}
	sort.Strings(names)
	nodes := make([]pg.Node, 0, len(names))
	for _, name := range names {
		dsn, err := MemberDSN(Member{Name: name, DSN: e.Cluster().Members[name].DSN})
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, pg.Node{Name: name, DSN: dsn})
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("all needs cluster.members with a dsn for each member")
	}
	return nodes, nil
}

// Node resolves a SQL target that must be exactly one node.
func (e *Env) Node(ctx context.Context, on, dsn string) (pg.Node, error) {
	nodes, err := e.Nodes(ctx, on, dsn)
	if err != nil {
		return pg.Node{}, err
	}
	if len(nodes) != 1 {
		return pg.Node{}, fmt.Errorf("%q is %d nodes; this step runs on one: use any_replica or member:NAME", on, len(nodes))
	}
	return nodes[0], nil
}

// LeaderNode is the current leader as a SQL node.
func (e *Env) LeaderNode(ctx context.Context) (pg.Node, error) { return e.Node(ctx, RoleLeader, "") }

// ValidateOn checks a SQL target's shape.
func ValidateOn(on, dsn string) error {
	if dsn != "" {
		return nil
	}
	if on == OnPooled || on == OnReplicaRoute {
		return nil
	}
	return ValidateTarget("on", on)
}
