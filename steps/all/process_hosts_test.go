//go:build testbed_hosts

package all_test

import (
	"strings"
	"testing"
)

// Patroni killed on the leader of the hosts bed (examples/testbed/up --hosts):
// Debian's patroni.service has KillMode=process, so PostgreSQL keeps running
// and takes a write; at the end of the run Patroni runs again (started by the
// undo through the platform, or already by systemd's Restart=on-failure).
// Built with the tag testbed_hosts: scripts/e2e runs it once the hosts bed is
// up.
func TestProcessPatroniKillHosts(t *testing.T) {
	sc := runOnBed(t, "cluster-hosts.yaml", "steps:\n"+healthy("steady")+`  - id: before
    kind: patroni.status
  - id: kill
    kind: process.kill
    target: leader
    process: patroni
  - id: write
    kind: sql.exec
    on: member:${before.leader}
    sql: CREATE TABLE IF NOT EXISTS drill_process_kill (at timestamptz); INSERT INTO drill_process_kill VALUES (now())
  - id: postmaster
    kind: sql.query
    on: member:${before.leader}
    sql: SELECT pg_postmaster_start_time() < $1::timestamptz AS older
    args: ["${kill.fault_at}"]
    record: {older: bool}
cleanup:
`+healthy("rejoined")+`checks:
  - expr: write.rows_affected == 1
  - expr: postmaster.older
`)
	passed(t, sc)
	undos(t, sc, "kill patroni (pid ")
	if len(sc.Undo) == 1 && !strings.Contains(sc.Undo[0].Fault, "undo: the end of the run starts it with the platform's start of the host's units unless it runs") {
		t.Errorf("the ledger's description does not say how Patroni comes back: %q", sc.Undo[0].Fault)
	}
	after := runOnBed(t, "cluster-hosts.yaml", `steps:
  - id: patroni
    kind: member.exec
    target: `+recorded(t, sc, "kill", "service").(string)+`
    command: [pgrep, -x, patroni]
`)
	passed(t, after)
}
