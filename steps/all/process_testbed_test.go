//go:build testbed

package all_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// The process faults on the compose test bed (examples/testbed/up), with its
// own cluster block: Patroni runs under a supervisor there, and the block
// says how to start it again.

func TestProcessPostmasterKillOnReplica(t *testing.T) {
	sc := runOnBed(t, "cluster.yaml", "steps:\n"+healthy("steady")+`  - id: before
    kind: patroni.status
  - id: kill
    kind: process.kill
    target: any_replica
    process: postmaster
`+healthy("back")+`  - id: pm
    kind: member.exec
    target: ${kill.service}
    command: [pgrep, -o, -x, postgres]
  - id: after
    kind: patroni.status
checks:
  - expr: after.leader == before.leader
  - expr: after.timeline == before.timeline
  - expr: back.replicas_streaming == 2
  - expr: pm.stdout != string(kill.pid)
`)
	passed(t, sc)
	undos(t, sc, "kill postmaster (pid ")
	if len(sc.Undo) == 1 && !strings.HasSuffix(sc.Undo[0].Fault, "undo: nothing to undo: Patroni restarts the postmaster") {
		t.Errorf("the ledger's description does not say nothing is undone: %q", sc.Undo[0].Fault)
	}
}

func TestProcessWalreceiverKill(t *testing.T) {
	sc := runOnBed(t, "cluster.yaml", "steps:\n"+healthy("steady")+`  - id: kill
    kind: process.kill
    target: any_replica
    process: walreceiver
  - id: reconnected
    kind: wait_until
    expr: status == "streaming" && receiver_pid != kill.pid
    interval: 200ms
    timeout: 1m
    poll:
      kind: sql.query
      on: member:${kill.member}
      sql: SELECT status, pid AS receiver_pid FROM pg_stat_wal_receiver
      record: {status: string, receiver_pid: number}
  - id: postmaster
    kind: sql.query
    on: member:${kill.member}
    sql: SELECT pg_postmaster_start_time() < $1::timestamptz AS older
    args: ["${kill.fault_at}"]
    record: {older: bool}
checks:
  - expr: postmaster.older
`)
	passed(t, sc)
	undos(t, sc, "kill walreceiver (pid ")
}

func TestProcessPatroniFreezeThaw(t *testing.T) {
	const stat = `    kind: member.exec
    target: ${freeze.service}
    command: [ps, -o, stat=, -p, "${freeze.pid}"]
`
	sc := runOnBed(t, "cluster.yaml", "steps:\n"+healthy("steady")+`  - id: freeze
    kind: process.freeze
    target: any_replica
    process: patroni
  - id: frozen
`+stat+`  - kind: process.thaw
    target: ${freeze.service}
    process: patroni
  - id: thawed
`+stat+`  - id: again
    kind: process.freeze
    target: ${freeze.service}
    process: patroni
  - id: frozen_again
    kind: member.exec
    target: ${freeze.service}
    command: [ps, -o, stat=, -p, "${again.pid}"]
checks:
  - expr: frozen.stdout startsWith "T"
  - expr: not (thawed.stdout startsWith "T")
  - expr: frozen_again.stdout startsWith "T"
  - expr: again.pid == freeze.pid
`)
	passed(t, sc)
	undos(t, sc, "freeze patroni (pid ")
	// the second freeze was left to the end of the run, which thawed it
	container := "drill-testbed-" + recorded(t, sc, "again", "service").(string)
	pid := fmt.Sprint(recorded(t, sc, "again", "pid"))
	if st := inContainer(t, container, "ps", "-o", "stat=", "-p", pid); strings.HasPrefix(st, "T") {
		t.Errorf("Patroni (pid %s) in %s after the run: stat %q, want thawed", pid, container, st)
	}
}

// inContainer runs argv in a container of the compose bed.
func inContainer(t *testing.T, container string, argv ...string) string {
	t.Helper()
	out, err := exec.Command("docker", append([]string{"exec", container}, argv...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker exec %s %v: %v: %s", container, argv, err, out)
	}
	return strings.TrimSpace(string(out))
}
