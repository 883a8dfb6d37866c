package all_test

import (
	"testing"

	"github.com/drill-dev/drill/internal/app/runner"
)

// TestControlParamsAtLoad checks what check (with hold), guard.start,
// guard.stop and sql.query on: all refuse when the file is loaded, with the
// exact position. Each case's steps start at line 8 (after a cluster block
// of two members).
func TestControlParamsAtLoad(t *testing.T) {
	for _, c := range []struct {
		steps string
		want  string
	}{
		{"  - kind: check\n    expr: true\n    hold: 10s\n    poll: {kind: pg.lag}",
			`f.yaml:10:11: hold: needs interval: how often to evaluate expr during the hold, e.g. interval: 1s`},
		{"  - kind: check\n    expr: true\n    hold: 10s\n    interval: 1s",
			`f.yaml:10:11: hold: needs poll: without a poll step expr reads the same recorded metrics on every evaluation; add a poll step (e.g. pg.lag or sql.query) whose metrics expr reads`},
		{"  - kind: check\n    expr: true\n    interval: 1s",
			`f.yaml:10:15: interval: has no effect without hold: a check without hold evaluates expr once`},
		{"  - kind: check\n    expr: lag_mb < 1\n    hold: 1s\n    interval: 2s\n    poll: {kind: pg.lag}",
			`f.yaml:11:15: interval: 2s is longer than the hold (1s): expr would be evaluated once`},
		{"  - kind: check\n    expr: lag_mb < 1\n    hold: 1s\n    interval: 100ms\n    poll: {kind: pg.lag}\n  - kind: check\n    expr: polls > 1 && held_s >= 1 && lag_mb < 1",
			``},
		{"  - kind: guard.start\n    interval: 1s",
			`f.yaml:8:5: missing required key "expr" for guard.start (the condition that must never become true, e.g. lag_mb > 16)`},
		{"  - kind: guard.start\n    expr: lag_mb > 16\n    interval: 1ms\n    poll: {kind: pg.lag}",
			`f.yaml:10:15: interval: must be at least 10ms`},
		{"  - kind: guard.start\n    expr: lag_mb > 16",
			`f.yaml:9:11: expr: unknown metric "lag_mb": no step before this records it`},
		{"  - kind: guard.start\n    expr: down > 0\n    poll: {kind: compose.stop, target: pg1}",
			`f.yaml:10:11: poll: compose.stop injects a fault: a guard's poll step runs again and again in the background and must only read`},
		{"  - kind: guard.start\n    guard: lag\n    expr: lag_mb > 16\n    poll: {kind: pg.lag}\n  - kind: guard.stop\n    guard: lga",
			`f.yaml:13:12: guard: no guard named "lga" is started before this step; did you mean "lag"?`},
		{"  - kind: guard.start\n    guard: lag\n    expr: lag_mb > 16\n    poll: {kind: pg.lag}\n  - kind: watch.stop\n    watcher: lag",
			`f.yaml:13:14: watcher: "lag" is a guard started by guard.start (line 8), not a watcher`},
		{"  - kind: guard.start\n    expr: lag_mb > 16\n    poll: {kind: pg.lag}\n  - kind: check\n    expr: lag_mb < 1",
			`f.yaml:12:11: expr: unknown metric "lag_mb": no step before this records it`},
		{"  - kind: sql.query\n    on: leader\n    sql: select 1\n    allow_down: true",
			`f.yaml:11:17: allow_down: only applies with on: all (every member); a query on one node fails when the node is down`},
		{"  - kind: sql.query\n    on: all\n    sql: select 1\n    member_timeout: 0s",
			`f.yaml:11:21: member_timeout: must be more than 0`},
		{"  - kind: writer.start\n    on: all",
			`f.yaml:9:9: on: "all" (every member) is not a target here: this step runs on one node; sql.query and sql.exec take on: all`},
		{"  - kind: sql.query\n    on: all\n    sql: select 1 as val\n    record: {val: number}\n  - kind: check\n    expr: val == 1",
			`f.yaml:13:11: expr: unknown metric "val": no step before this records it`},
		{"  - kind: patroni.status\n  - kind: sql.query\n    on: all\n    sql: select 1 as val\n    record: {val: number}\n" +
			"  - kind: check\n    expr: members_answered == 2 && all(values(by_member), {#.val == by_member[leader].val}) && len(member_errors) == 0",
			``},
	} {
		src := "name: f\ncluster:\n  members:\n    pg1: {dsn: \"postgres://a@127.0.0.1:1/x\"}\n    pg2: {dsn: \"postgres://a@127.0.0.1:2/x\"}\n" +
			"  pooled_dsn: \"postgres://a@127.0.0.1:3/x\"\nsteps:\n" + c.steps + "\n"
		_, err := runner.LoadScenario("f.yaml", []byte(src), nil, map[string]bool{})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s\ngot  %s\nwant %s", src, got, c.want)
		}
	}
}
