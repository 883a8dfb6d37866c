//go:build testbed

package all_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGhostsAndStaleReadsOnTheBed checks the writer's and the reader's
// classifications against independent counts on the bed's tables (and the
// reader's staleness in seconds against the replica's replay timestamp):
//
//   - stale reads: a reader follows the writer on a replica whose
//     walreceiver is frozen. The replica's own max(seq), read by SQL once the
//     reads are over, is what every late read saw; the reader's worst miss
//     can be no larger than the writes acknowledged by the end minus that.
//   - ghost writes: PgBouncer is frozen under the writer for 5 s, so writes
//     in flight are given up on, and some commit after the thaw. The rows of
//     the run on the leader, counted by SQL, must be exactly the
//     acknowledged ones minus the lost plus the ghosts (and any duplicates),
//     and every ghost the writer lists must be there.
func TestGhostsAndStaleReadsOnTheBed(t *testing.T) {
	// What each replica holds of each run while the walreceiver is frozen,
	// read by psql in the member: member -> run_id -> max(seq).
	// And each member's last replayed commit (pg_last_xact_replay_timestamp,
	// the primary's commit time; none on the primary).
	held := map[string]map[string]float64{}
	replayed := map[string]time.Time{}
	hook(t, "replicas hold", func(ctx context.Context) error {
		for _, m := range []string{"postgres-master", "postgres-standby1", "postgres-standby2"} {
			held[m] = map[string]float64{}
			text, err := psqlIn(ctx, m, "SELECT extract(epoch FROM pg_last_xact_replay_timestamp())")
			if err != nil {
				return err
			}
			if text != "" {
				epoch, err := strconv.ParseFloat(text, 64)
				if err != nil {
					return fmt.Errorf("%s: replay timestamp %q: %w", m, text, err)
				}
				replayed[m] = time.Unix(0, int64(epoch*1e9))
			}
			out, err := psqlIn(ctx, m, "SELECT run_id, max(seq) FROM drill_writes GROUP BY run_id")
			if err != nil {
				return err
			}
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) == 2 {
					n, err := strconv.ParseFloat(f[1], 64)
					if err != nil {
						return fmt.Errorf("%s: %q: %w", m, line, err)
					}
					held[m][f[0]] = n
				}
			}
		}
		return nil
	})
	sc := runOnBed(t, "cluster.yaml", `steps:
  - kind: patroni.wait_healthy
    members: 3
    timeout: 2m
  - id: start
    kind: writer.start
    on: pooled
    rate: 50
    set_read: 250ms
  - id: freeze
    name: freeze one replica's walreceiver
    kind: process.freeze
    target: any_replica
    process: walreceiver
  - kind: reader.start
    on: member:${freeze.member}
    follows: writer
    rate: 20
  - kind: sleep
    duration: 3s
  - id: stale
    kind: reader.stop
  - kind: test.hook
    call: replicas hold
  - kind: process.thaw
    target: member:${freeze.member}
    process: walreceiver
  - id: pause
    kind: member.pause
    target: pgbouncer
  - kind: sleep
    duration: 5s
  - kind: member.unpause
    target: pgbouncer
  - kind: sleep
    duration: 5s
  - id: writes
    kind: writer.stop
  - id: after
    kind: patroni.status
cleanup:
  - kind: patroni.wait_healthy
    members: 3
    timeout: 3m
`)
	if !sc.Passed() {
		t.Fatalf("the run did not pass: %s", sc.Aborted)
	}
	num := func(step, name string) float64 {
		t.Helper()
		v, ok := recorded(t, sc, step, name).(float64)
		if !ok {
			t.Fatalf("%s.%s is not a number", step, name)
		}
		return v
	}

	// The run's id, from writer.start's log.
	var startLog, stopLog string
	for _, st := range sc.Steps {
		switch st.ID {
		case "start":
			startLog = st.Log
		case "writes":
			stopLog = st.Log
		}
	}
	run := runIDOf(t, startLog)

	// Stale reads against the frozen replica's own table.
	frozen, _ := sample(sc, "freeze", "member")
	frozenMax, ok := held[frozen.(string)][run]
	if !ok {
		t.Fatalf("the frozen replica %v holds no row of run %s: %v", frozen, run, held)
	}
	acked := num("writes", "acknowledged")
	stale, worst := num("stale", "stale_reads"), num("stale", "max_stale_rows")
	if stale < 1 || worst < 1 {
		t.Errorf("stale_reads %v, max_stale_rows %v on a replica frozen for 3 s under 50 writes/s: want both >= 1", stale, worst)
	}
	if worst > acked-frozenMax {
		t.Errorf("max_stale_rows %v, more than the %v acknowledged writes less the %v the frozen replica holds", worst, acked, frozenMax)
	}
	// Its age against the frozen replica's last replayed commit: the first
	// row a read missed committed after that one (within a write interval
	// and its round trip) and was acknowledged after that, so the worst
	// age is at most the replay lag at the last read's end (no later than
	// the hook, which ran right after reader.stop) and trails the lag at
	// reader.stop's start by at most the write and read intervals, the
	// acknowledgement's latency and a read's own time: 1 s, on a busy
	// 2-core machine.
	staleS, last := num("stale", "max_stale_s"), replayed[frozen.(string)]
	var stopStarted time.Time
	for _, st := range sc.Steps {
		if st.ID == "stale" {
			stopStarted = st.Started
		}
	}
	if last.IsZero() || stopStarted.IsZero() {
		t.Fatalf("no replay timestamp of %v (%v) or no reader.stop start", frozen, replayed)
	}
	lagAtStop := stopStarted.Sub(last).Seconds()
	if staleS > lagAtStop+1 || staleS < lagAtStop-1 {
		t.Errorf("max_stale_s %.3f, want within 1 s of the frozen replica's replay lag when the reads stopped, %.3f s (last replayed commit %s)",
			staleS, lagAtStop, last.Format(time.RFC3339Nano))
	}
	t.Logf("max_stale_s %.3f; the frozen replica's replay lag at reader.stop %.3f s", staleS, lagAtStop)
	if b := num("stale", "backwards_reads"); b != 0 {
		t.Errorf("backwards_reads %v on one replica, want 0", b)
	}
	t.Logf("frozen replica holds seq <= %v; the reader's worst read missed %v rows (%v stale reads); %v acknowledged in all", frozenMax, worst, stale, acked)

	// Ghosts against the leader's table.
	leader, _ := sample(sc, "after", "leader")
	sql := func(q string) int { t.Helper(); return countIn(t, leader.(string), q) }
	where := "run_id = '" + run + "'"
	present := float64(sql("SELECT count(*) FROM drill_writes WHERE " + where))
	lost, ghosts, dups := num("writes", "lost_writes"), num("writes", "ghost_writes"), num("writes", "duplicate_rows")
	if present != acked-lost+ghosts+dups {
		t.Errorf("the leader has %v rows of run %s; the writer says %v acknowledged - %v lost + %v ghosts + %v duplicates = %v",
			present, run, acked, lost, ghosts, dups, acked-lost+ghosts+dups)
	}
	if m := regexp.MustCompile(`writes that failed for the client but committed \(seq\): \[([0-9 ]+)\]`).FindStringSubmatch(stopLog); m != nil {
		listed := strings.Join(strings.Fields(m[1]), ",")
		if n := sql("SELECT count(DISTINCT seq) FROM drill_writes WHERE " + where + " AND seq IN (" + listed + ")"); n != len(strings.Fields(m[1])) {
			t.Errorf("%d of the ghost seqs %s are on the leader, want all", n, listed)
		}
	} else if ghosts > 0 {
		t.Errorf("ghost_writes %v but the log lists none:\n%s", ghosts, stopLog)
	}
	if v := num("writes", "vanished_writes"); v != 0 {
		t.Errorf("vanished_writes %v without a failover, want 0", v)
	}
	if sr := num("writes", "set_reads"); sr < 1 {
		t.Errorf("set_reads %v, want some", sr)
	}
	t.Logf("leader %s: %v rows of the run = %v acknowledged - %v lost + %v ghosts + %v duplicates", leader, present, acked, lost, ghosts, dups)
}
