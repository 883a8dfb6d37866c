package steps

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
)

// A parameter that names what a step acts on carries a `target` tag, so
// that the names are checked against the cluster block at load time:
//
//	target:"unit"    a role, member:NAME, or a service (service#N too)
//	target:"sql"     the same, or pooled
//	target:"all"     the same, or all
//	target:"sql,all" sql or all: steps that run on each member and report per member
//	target:"sql,read" sql, or replica_route: steps that only read (writes go to the primary)
//	target:"member"  a Patroni member name
//	target:"process" a process name: built-in or in cluster.processes
//	target:"unit,one" a unit that is one member: not the plural role replica
//
// The tag may sit on a string, a list of strings or a list of lists.

// roles are the words IsRole accepts, for suggestions.
var roles = []string{RoleLeader, RoleReplicas, RoleAnyReplica, RoleSyncStandby}

// targetField is one tagged parameter of a step type.
type targetField struct {
	key   string
	index int
	mode  string
}

var targetFields sync.Map // reflect.Type -> []targetField

func targetFieldsOf(t reflect.Type) []targetField {
	if f, ok := targetFields.Load(t); ok {
		return f.([]targetField)
	}
	var out []targetField
	for _, f := range dsl.Fields(t) {
		if mode, ok := t.Field(f.Index).Tag.Lookup("target"); ok {
			out = append(out, targetField{key: f.Key, index: f.Index, mode: mode})
		}
	}
	targetFields.Store(t, out)
	return out
}

// TargetNames are the names a cluster block gives, its members, the
// services that run them, its hosts and its groups (and the services in
// them), for checking targets at load time.
type TargetNames struct {
	members, known []string // known: members and their services
	isMember       map[string]bool
	isKnown        map[string]bool
	// strict: only roles and the block's names are targets (platform
	// hosts: drill acts on nothing the block does not name).
	strict bool
	// processes are the process names: built-in and the block's.
	processes []string
	// replicaRoute: the block gives replica_dsn.
	replicaRoute bool
}

// NewTargetNames collects the names of a cluster block (nil: none).
func NewTargetNames(c *cluster.Cluster) *TargetNames {
	n := &TargetNames{isMember: map[string]bool{}, isKnown: map[string]bool{}}
	if c == nil {
		c = &cluster.Cluster{}
	}
	n.processes = c.ProcessNames()
	n.replicaRoute = c.ReplicaDSN != ""
	add := func(name string) {
		if name != "" && !n.isKnown[name] {
			n.isKnown[name] = true
			n.known = append(n.known, name)
		}
	}
	for name, m := range c.Members {
		n.isMember[name] = true
		n.members = append(n.members, name)
		add(name)
		add(m.Where())
	}
	for name := range c.Hosts {
		add(name)
	}
	for name, group := range c.Groups {
		add(name)
		for _, service := range group {
			add(service)
		}
	}
	n.strict = c.Platform == "hosts"
	sort.Strings(n.members)
	sort.Strings(n.known)
	return n
}

// checkTargets checks every tagged parameter of step against the cluster
// block: a member:NAME or member name that the block does not list, a word
// one or two edits from a role, and a name close to (but not) one the block
// lists are errors. A block that lists no members leaves names to Patroni;
// a name close to nothing known is a service the block need not list (etcd).
func checkTargets(step Step, names *TargetNames) error {
	v := reflect.ValueOf(step)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	for _, f := range targetFieldsOf(v.Type()) {
		msg := ""
		eachString(v.Field(f.index), func(s string) {
			if msg == "" {
				msg = names.check(f.mode, s)
			}
		})
		if msg != "" {
			return &FieldError{Field: f.key, Msg: msg}
		}
	}
	return nil
}

func eachString(v reflect.Value, fn func(string)) {
	switch v.Kind() {
	case reflect.String:
		fn(v.String())
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			eachString(v.Index(i), fn)
		}
	}
}

// check checks one name written in a parameter of the given mode and says
// what is wrong with it, or "".
func (n *TargetNames) check(mode, s string) string {
	if s == "" || strings.Contains(s, "${") {
		return "" // empty: the kind's own check; a reference: known at run time
	}
	modes := strings.Split(mode, ",")
	switch {
	case slices.Contains(modes, "member"):
		return n.checkMember(s)
	case slices.Contains(modes, "process"):
		if slices.Contains(n.processes, s) {
			return ""
		}
		return fmt.Sprintf("no process %q: use %s, or define it in the cluster block's processes (a match pattern or a pid_file)%s", s, dsl.OneOf(n.processes), dsl.DidYouMean(s, n.processes))
	}
	if (slices.Contains(modes, "sql") && s == OnPooled) || (slices.Contains(modes, "all") && s == OnAll) {
		return ""
	}
	if s == OnReplicaRoute && slices.Contains(modes, "sql") {
		switch {
		case !slices.Contains(modes, "read"):
			return fmt.Sprintf("%q (cluster.replica_dsn) is the read-only route to the replicas, and this step writes or needs the primary: use %s or %s", s, OnPooled, RoleLeader)
		case !n.replicaRoute:
			return errNoReplicaDSN
		}
		return ""
	}
	if s == OnAll && slices.Contains(modes, "sql") && !n.isKnown[s] {
		return fmt.Sprintf("%q (every member) is not a target here: this step runs on one node; sql.query and sql.exec take on: all", s)
	}
	if name, ok := strings.CutPrefix(s, memberPrefix); ok {
		return n.checkMember(name)
	}
	if IsRole(s) {
		if s == RoleReplicas && slices.Contains(modes, "one") {
			return fmt.Sprintf("%q is every running replica and this step acts on one member: use %s, %s or member:NAME", s, RoleAnyReplica, RoleSyncStandby)
		}
		return ""
	}
	service, _, _ := strings.Cut(s, "#")
	if n.isKnown[service] {
		return ""
	}
	if near := dsl.SuggestWithin(service, roles, 2); near != "" {
		return fmt.Sprintf("%q is not a role; did you mean %q?", s, near)
	}
	if near := dsl.Suggest(service, n.known); near != "" {
		noun := "service"
		if n.strict {
			noun = "host"
		}
		return fmt.Sprintf("%q is not a role, a member or a %s of the cluster block; did you mean %q?", s, noun, near)
	}
	if n.strict {
		return fmt.Sprintf("%q is not a role, a member or a host of the cluster block (hosts: %s): drill acts only on what the block names", s, strings.Join(n.known, ", "))
	}
	return ""
}

func (n *TargetNames) checkMember(name string) string {
	if len(n.members) == 0 || n.isMember[name] {
		return ""
	}
	return fmt.Sprintf("no member %q in the cluster block (members: %s)%s", name, strings.Join(n.members, ", "), dsl.DidYouMean(name, n.members))
}
