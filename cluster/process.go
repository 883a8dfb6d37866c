package cluster

import (
	"maps"
	"slices"
)

// Process is how drill finds one process inside a member, and how it starts
// it again (cluster.processes.NAME). The built-in names have defaults
// (BuiltinProcesses); an entry for one of them overrides the fields it sets.
type Process struct {
	Match   string   `yaml:"match" json:"match,omitempty" doc:"extended regular expression matched against each process's full command line, as pgrep -f does; the oldest process that matches is the one"`
	PIDFile string   `yaml:"pid_file" json:"pid_file,omitempty" doc:"instead of match: a file in the member whose first line is the process's pid"`
	Start   []string `yaml:"start" json:"start,omitempty" doc:"command run in the member to start the process again, e.g. [testbed-patroni, start]; it must return once the process runs (detach it)"`
	User    string   `yaml:"user" json:"user,omitempty" doc:"user that start runs as (default: the platform's: root in the bed's containers, root through sudo on hosts)"`

	// Comm, for a built-in process, is its exact process name (pgrep -x):
	// found by it when neither match nor pid_file is set.
	Comm string `yaml:"-" json:"comm,omitempty"`
}

// The built-in process names.
const (
	Postmaster  = "postmaster"
	Patroni     = "patroni"
	Walreceiver = "walreceiver"
	PgBouncer   = "pgbouncer"
)

// BuiltinProcesses are the processes the process.* steps know without a
// cluster.processes entry.
var BuiltinProcesses = map[string]Process{
	Postmaster:  {Comm: "postgres"},
	Patroni:     {Comm: "patroni"},
	Walreceiver: {Match: "^postgres: .*walreceiver"},
	PgBouncer:   {Comm: "pgbouncer"},
}

// Process returns the process named name: a built-in one with the fields
// the block's entry sets, or the block's own entry.
func (c *Cluster) Process(name string) (Process, bool) {
	def, builtin := BuiltinProcesses[name]
	own, ok := c.Processes[name]
	switch {
	case !ok:
		return def, builtin
	case own.Match != "" || own.PIDFile != "":
		// a finder of its own replaces the built-in one
	default:
		own.Match, own.Comm = def.Match, def.Comm
	}
	return own, true
}

// ProcessNames lists the names a process parameter may take: the built-in
// ones and the block's, sorted.
func (c *Cluster) ProcessNames() []string {
	names := slices.Collect(maps.Keys(BuiltinProcesses))
	for name := range c.Processes {
		if _, builtin := BuiltinProcesses[name]; !builtin {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
