package all_test

import (
	"fmt"
	"testing"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/client/pg/pgtest"
)

// TestSQLQueryEveryMember runs sql.query on: all against a real primary and
// its streaming replica, and a third member that is down: the down member
// is an entry of member_errors (never dropped), the step fails without
// allow_down, and a wait compares members with each other until the
// replica has replayed the primary's position.
func TestSQLQueryEveryMember(t *testing.T) {
	p, r := pgtest.Pair(t, "primary", "replica")
	res := runScenario(t, fmt.Sprintf(`
name: every member
cluster:
  members:
    pg1: {dsn: "%s"}
    pg2: {dsn: "%s"}
    pg3: {dsn: "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2"}
steps:
  - id: every
    kind: sql.query
    on: all
    allow_down: true
    sql: SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replayed
    record: {in_recovery: bool, replayed: string}
  - kind: check
    expr: >-
      every.members_answered == 2 && !every.by_member.pg1.in_recovery && every.by_member.pg2.in_recovery &&
      every.by_member.pg1.replayed == nil && every.by_member.pg2.replayed != nil &&
      every.by_member.pg2.row_count == 1 && "pg3" in every.member_errors && !("pg1" in every.member_errors) &&
      count(values(every.by_member), {#.in_recovery}) == 1
  - kind: sql.exec
    on: pg1
    sql: CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g
  - id: caught_up
    kind: wait_until
    expr: len(uniq(map(values(by_member), .lsn))) == 1 && members_answered == 2
    interval: 50ms
    timeout: 60s
    poll:
      kind: sql.query
      on: all
      allow_down: true
      sql: >-
        SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END - '0/0')::float8 AS lsn
      record: {lsn: number}
  - name: a member down fails the step
    kind: sql.query
    on: all
    sql: SELECT 1 AS one
    expect_error: '^1 of 3 members did not answer \(pg3\): .*allow_down: true records them'
`, p.DSN("postgres"), r.DSN("postgres")))
	if !res.Passed() {
		t.Fatalf("the scenario did not pass: %s", res.Aborted)
	}
	if st := res.Steps[3]; st.Status != report.Passed {
		t.Errorf("the wait: %s %s", st.Status, st.Message)
	}
	by := value(t, res, "caught_up.by_member").(map[string]any)
	if by["pg1"].(map[string]any)["lsn"] != by["pg2"].(map[string]any)["lsn"] || by["pg1"].(map[string]any)["lsn"].(float64) <= 0 {
		t.Errorf("by_member after the wait: %v, want the same position on both", by)
	}
}
