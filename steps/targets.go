package steps

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/client/patroni"
)

// This file resolves what steps act on: the compose project, the Patroni
// client, and targets written as a service, a member or a role.

// Roles a target may name, resolved at run time from Patroni's /cluster.
const (
	RoleLeader      = "leader"       // the current leader
	RoleReplicas    = "replica"      // every running replica
	RoleAnyReplica  = "any_replica"  // one running replica (the first by name)
	RoleSyncStandby = "sync_standby" // the synchronous standby
	memberPrefix    = "member:"      // member:NAME, a Patroni member by name
)

// TargetHelp explains the target syntax, for parameter docs.
const TargetHelp = "a compose service, or leader, replica, any_replica, sync_standby or member:NAME, resolved from Patroni when the step runs"

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

// Patroni returns the scenario's Patroni client, made from the cluster
// block's patroni URLs and the members' api URLs.
func (e *Env) Patroni() (*patroni.Client, error) {
	c, err := e.Infra.Client("patroni", func() (any, error) {
		urls, memberURLs := e.Infra.Cluster.RESTURLs(), e.Infra.Cluster.MemberAPIs()
		if len(urls) == 0 {
			return nil, fmt.Errorf("no Patroni REST API to ask: set cluster.patroni (e.g. [http://127.0.0.1:8008]) or cluster.members.NAME.api")
		}
		return patroni.New(urls, patroni.Options{MemberURLs: memberURLs, Logger: e.Logger})
	})
	if err != nil {
		return nil, err
	}
	return c.(*patroni.Client), nil
}

// Project returns the compose project the scenario acts on: the cluster
// block's compose_project, else COMPOSE_PROJECT_NAME, else the only project
// with running containers.
func (e *Env) Project(ctx context.Context) (*docker.Project, error) {
	// Infra.Client holds its lock while it makes a client: get the engine
	// first, not from inside the project's make.
	engine, err := dockerEngine(ctx, e.Infra, e.Infra.Cluster.HelperImage, e.Logger)
	if err != nil {
		return nil, err
	}
	c, err := e.Infra.Client("docker.project", func() (any, error) {
		name := e.Infra.Cluster.ComposeProject
		if name == "" {
			name = os.Getenv("COMPOSE_PROJECT_NAME")
		}
		return engine.Project(ctx, name)
	})
	if err != nil {
		return nil, err
	}
	return c.(*docker.Project), nil
}

// Members resolves a role or member target through Patroni's /cluster; a
// plain service name resolves to itself (with the member it runs, when the
// cluster block maps one to it).
func (e *Env) Members(ctx context.Context, target string) ([]Member, error) {
	if !IsRole(target) {
		m := Member{Service: target}
		for name, cm := range e.Infra.Cluster.Members {
			if cm.Service == target {
				m.Name, m.DSN, m.API = name, cm.DSN, cm.API
			}
		}
		if m.Name == "" {
			if cm, ok := e.Infra.Cluster.Members[target]; ok {
				m.Name, m.DSN, m.API = target, cm.DSN, cm.API
			}
		}
		return []Member{m}, nil
	}
	client, err := e.Patroni()
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
			if cm, known := e.Infra.Cluster.Members[name]; known {
				m := Member{Name: name, Service: name, DSN: cm.DSN, API: cm.API}
				if cm.Service != "" {
					m.Service = cm.Service
				}
				return []Member{m}, nil
			}
			return nil, fmt.Errorf("no Patroni member %q (members: %s)%s", name, strings.Join(names, ", "), dsl.DidYouMean(name, names))
		}
		return nil, fmt.Errorf("no member has the role %s now (members: %s)", target, describeRoles(cl))
	}
	out := make([]Member, len(picked))
	for i, pm := range picked {
		out[i] = e.memberOf(pm)
	}
	return out, nil
}

// memberOf fills in how to reach a Patroni member: the cluster block's
// mapping first, else the compose convention that the member's name (or
// its host) is its service.
func (e *Env) memberOf(pm patroni.ClusterMember) Member {
	m := Member{Name: pm.Name, Role: string(pm.Role), Service: pm.Name}
	if cm, ok := e.Infra.Cluster.Members[pm.Name]; ok {
		if cm.Service != "" {
			m.Service = cm.Service
		}
		m.DSN, m.API = cm.DSN, cm.API
	}
	return m
}

func describeRoles(cl patroni.Cluster) string {
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
