package process

import (
	"strings"
	"testing"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/signal"
	"github.com/drill-dev/drill/steps"
)

func TestClusterProcess(t *testing.T) {
	c := &cluster.Cluster{Processes: map[string]cluster.Process{
		"patroni":     {Start: []string{"testbed-patroni", "start"}},
		"walreceiver": {PIDFile: "/run/wr.pid"},
		"agent":       {Match: "^agent "},
	}}
	for _, tc := range []struct {
		name string
		want cluster.Process
		ok   bool
	}{
		{"postmaster", cluster.Process{Comm: "postgres"}, true},
		{"patroni", cluster.Process{Comm: "patroni", Start: []string{"testbed-patroni", "start"}}, true},
		{"walreceiver", cluster.Process{PIDFile: "/run/wr.pid"}, true}, // its own finder replaces the built-in one
		{"agent", cluster.Process{Match: "^agent "}, true},
		{"etcd", cluster.Process{}, false},
	} {
		got, ok := c.Process(tc.name)
		if ok != tc.ok || describe(got) != describe(tc.want) || strings.Join(got.Start, " ") != strings.Join(tc.want.Start, " ") {
			t.Errorf("Process(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if got, want := strings.Join(c.ProcessNames(), ","), "agent,patroni,pgbouncer,postmaster,walreceiver"; got != want {
		t.Errorf("ProcessNames = %s, want %s", got, want)
	}
}

func TestParsePS(t *testing.T) {
	out := "    1     0 Ss   /usr/bin/tini -- testbed-entrypoint patroni\n" +
		"   20     7 Sl   /usr/bin/python3 /usr/bin/patroni /etc/patroni/patroni.yml\n" +
		"  220    46 Ss   postgres: fileshare-cluster: walreceiver streaming 0/5027CF0\n" +
		"  900   899 S    sudo -n ps -ww -eo pid=,ppid=,stat=,args= --sort=start_time\n" +
		"  901   900 R    ps -ww -eo pid=,ppid=,stat=,args= --sort=start_time\n" +
		"garbage\n"
	procs := parsePS(out)
	if len(procs) != 5 || procs[1] != (proc{PID: 20, PPID: 7, Stat: "Sl", Text: "/usr/bin/python3 /usr/bin/patroni /etc/patroni/patroni.yml"}) {
		t.Fatalf("parsePS = %+v", procs)
	}
	var pids []int
	for _, p := range withoutSelf(procs) {
		pids = append(pids, p.PID)
	}
	if len(pids) != 3 || pids[2] != 220 {
		t.Errorf("withoutSelf left %v, want 1 20 220 (not ps and its sudo)", pids)
	}
}

// fakeRef is a platform known only by its Ref: enough for killPlan.
type fakeRef struct {
	platform.Platform
	driver string
}

func (f fakeRef) Ref() platform.Ref { return platform.Ref{Driver: f.driver, Project: "p"} }

func TestKillPlan(t *testing.T) {
	compose, hosts := fakeRef{driver: platform.Compose}, fakeRef{driver: "hosts"}
	v := steps.Victim{Unit: platform.Unit{Service: "db", Name: "p-db-1", Noun: "container"}}
	at := func(name string, spec cluster.Process) located {
		return located{v: v, name: name, spec: spec, proc: proc{PID: 42}}
	}
	for _, tc := range []struct {
		what string
		p    platform.Platform
		l    located
		sig  signal.Signal
		want string
	}{
		{"postmaster", compose, at("postmaster", cluster.Process{Comm: "postgres"}), 9, "nothing to undo: Patroni restarts the postmaster"},
		{"walreceiver", compose, at("walreceiver", cluster.Process{}), 9, "nothing to undo: the postmaster restarts the walreceiver"},
		{"patroni with start", compose, at("patroni", cluster.Process{Start: []string{"testbed-patroni", "start"}}), 9, `the end of the run starts it with "testbed-patroni start" unless it runs`},
		{"start as a user", compose, at("agent", cluster.Process{Start: []string{"agent"}, User: "postgres"}), 15, `the end of the run starts it with "agent" as postgres unless it runs`},
		{"patroni on hosts", hosts, at("patroni", cluster.Process{}), 9, "the end of the run starts it with the platform's start of the host's units unless it runs"},
		{"HUP to a built-in", compose, at("patroni", cluster.Process{}), 1, "nothing to undo: SIGHUP does not end it"},
		{"STOP", compose, at("pgbouncer", cluster.Process{}), 19, "nothing to undo: SIGSTOP does not end it"},
		{"patroni in a container without start", compose, at("patroni", cluster.Process{}), 9,
			"refusing to kill patroni (pid 42) in container p-db-1 (service db) with SIGKILL: nothing would start it again at the end of the run; set the cluster block's processes.patroni.start to the command that starts it in the member (the test bed's: processes: {patroni: {start: [testbed-patroni, start]}})"},
		{"HUP to a process of the block", compose, at("agent", cluster.Process{Match: "agent"}), 1,
			"refusing to kill agent (pid 42) in container p-db-1 (service db) with SIGHUP: nothing would start it again at the end of the run; set the cluster block's processes.agent.start to the command that starts it in the member"},
	} {
		got, err := killPlan(tc.p, tc.l, tc.sig)
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: killPlan = %q\nwant %q", tc.what, got, tc.want)
		}
	}
}
