package all_test

import (
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/steps"
)

// TestFaultParamsAtLoad checks what the fault kinds refuse when the file is
// loaded, before anything is touched, with the exact position.
func TestFaultParamsAtLoad(t *testing.T) {
	for _, c := range []struct {
		step string // the step's mapping, at line 3 column 5
		want string
	}{
		{"kind: compose.kill\n    target: a\n    signal: SIGFOO",
			`f.yaml:5:13: signal: unknown signal "SIGFOO": use a name like SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGUSR1 or a number from 1 to 64`},
		{"kind: compose.kill\n    target: a\n    signal: 65",
			`f.yaml:5:13: signal: signal 65 out of range: Linux signals are 1 to 64`},
		{"kind: compose.stop\n    target: a\n    grace: -1s",
			`f.yaml:5:12: grace: bad duration "-1s": it must not be negative`},
		{"kind: compose.stop\n    target: a\n    index: -1",
			`f.yaml:5:12: index: must be a container number, 1 or more`},
		{"kind: compose.pause\n    target: \"member:\"",
			`f.yaml:4:13: target: member: needs a member name, e.g. member:postgres-standby1`},
		{"kind: compose.start\n    index: 2",
			`f.yaml:3:5: missing required key "target" for compose.start (what to put back: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME)`},
		{"kind: compose.unpause\n    target: a\n    keep: true",
			`f.yaml:5:5: unknown key "keep" for compose.unpause; known keys: target, index`},
		{"kind: network.partition\n    groups: [[leader]]",
			`f.yaml:4:13: groups: needs at least two groups, e.g. [[leader], [replica, etcd]], found 1`},
		{"kind: network.partition\n    groups: [[leader], []]",
			`f.yaml:4:13: groups: group 2 is empty`},
		{"kind: network.partition\n    groups: [[leader], [b, leader]]",
			`f.yaml:4:13: groups: "leader" is in group 1 and group 2: a container can be on one side only`},
		{"kind: network.partition\n    one_way: true\n    groups: [[a], [b], [c]]",
			`f.yaml:5:13: groups: one_way needs exactly two groups (who cannot reach, who still can), found 3`},
		{"kind: network.partition\n    groups: [[a], [\"b#x\"]]",
			`f.yaml:4:13: groups: bad container number in target "b#x": want service#N with N >= 1`},
		{"kind: network.partition\n    groups: [a, b]",
			"f.yaml:4:14: groups must be a list, found \"a\"\nf.yaml:4:17: groups must be a list, found \"b\""},
		{"kind: network.heal\n    targets: [\"\"]",
			`f.yaml:4:14: targets: must name a compose service (a host on platform hosts) or a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME, resolved from Patroni when the step runs`},
		{"kind: network.loss\n    target: a\n    loss: 0",
			`f.yaml:5:11: loss: must be more than 0 and at most 100 (percent of packets dropped), found 0`},
		{"kind: network.loss\n    target: a\n    loss: 100.5",
			`f.yaml:5:11: loss: must be more than 0 and at most 100 (percent of packets dropped), found 100.5`},
		{"kind: network.delay\n    target: a\n    delay: 0s",
			`f.yaml:5:12: delay: must be more than 0`},
		{"kind: network.delay\n    target: a\n    delay: 10ms\n    duration: 5s\n    keep: true",
			`f.yaml:7:11: keep: contradicts duration: a fault with a duration is removed when it ends`},
		{"kind: network.delay\n    target: a\n    delay: 10ms\n    towards: [\"member:\"]",
			`f.yaml:6:14: towards: member: needs a member name, e.g. member:postgres-standby1`},
	} {
		src := "name: f\nsteps:\n  - " + c.step + "\n"
		_, err := runner.LoadScenario("f.yaml", []byte(src), nil, map[string]bool{})
		if err == nil || err.Error() != c.want {
			t.Errorf("%s\ngot  %v\nwant %s", src, err, c.want)
		}
	}
}

// TestFaultKindExamples loads the example every fault kind shows in drill
// kinds and the README, and checks that fault kinds declare the fault
// metrics other kinds measure from.
func TestFaultKindExamples(t *testing.T) {
	for _, k := range steps.Kinds() {
		if !strings.HasPrefix(k.Name, "compose.") && !strings.HasPrefix(k.Name, "network.") {
			continue
		}
		src := "name: example\nsteps:\n  - id: pause\n    kind: compose.pause\n    target: a\n  - id: cut\n    kind: network.disconnect\n    target: a\n  - id: stop\n    kind: compose.stop\n    target: a\n  - " +
			strings.ReplaceAll(k.Example, "\n", "\n    ") + "\n"
		if _, err := runner.LoadScenario(k.Name+".yaml", []byte(src), nil, map[string]bool{}); err != nil {
			t.Errorf("the example of %s does not load: %v\n%s", k.Name, err, src)
		}
		if !k.Fault {
			continue
		}
		var names []string
		for _, m := range k.Metrics {
			names = append(names, m.Name)
		}
		if got := strings.Join(names, " "); got != "fault_at service member containers leader_before" {
			t.Errorf("%s records %s", k.Name, got)
		}
	}
}
