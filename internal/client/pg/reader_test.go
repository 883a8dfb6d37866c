package pg

import (
	"context"
	"strings"
	"testing"
	"time"
)

// startReader starts a reader, stopping it when the test ends if the test
// did not.
func startReader(t *testing.T, cfg ReaderConfig) *Reader {
	t.Helper()
	r, err := StartReader(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = r.Stop(context.Background()) })
	return r
}

// readsAfter waits until the reader has ended n more reads than it had
// when called, each started after the call for all but concurrency of them.
func readsAfter(t *testing.T, r *Reader, concurrency, n int) {
	t.Helper()
	ended, _ := r.Reads()
	waitFor(t, "reads after the writer stopped", func() bool {
		now, _ := r.Reads()
		return now >= ended+concurrency+n
	})
}

func TestReaderOnThePrimaryIsNeverStale(t *testing.T) {
	w, err := StartWriter(t.Context(), WriterConfig{DSN: primary.DSN, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = w.Halt(context.Background()) }()
	r := startReader(t, ReaderConfig{DSN: primary.DSN, Follows: w, Concurrency: 4})
	waitFor(t, "50 acknowledged writes and 500 reads", func() bool {
		ended, _ := r.Reads()
		return len(acknowledged(w)) >= 50 && ended >= 500
	})
	rep, err := r.Stop(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads, %.0f/s, %d errors", rep.Reads, deref(rep.ReadsPerS), rep.ReadErrors)
	if rep.ReadErrors != 0 || rep.ReadOutageS != nil || rep.OutageOpen {
		t.Errorf("a healthy primary: errors %d (%s), outage %v open %v", rep.ReadErrors, rep.FirstError, deref(rep.ReadOutageS), rep.OutageOpen)
	}
	if rep.StaleReads == nil || *rep.StaleReads != 0 || rep.BackwardsReads == nil || *rep.BackwardsReads != 0 {
		t.Errorf("the primary shows every acknowledged commit: stale %v backwards %v", deref(rep.StaleReads), deref(rep.BackwardsReads))
	}
	if rep.MaxStaleRows == nil || *rep.MaxStaleRows != 0 || rep.MaxStaleS == nil || *rep.MaxStaleS != 0 {
		t.Errorf("max_stale_rows %v max_stale_s %v, want 0 and 0", deref(rep.MaxStaleRows), deref(rep.MaxStaleS))
	}
	if rep.ReadsPerS == nil || *rep.ReadsPerS <= 0 || rep.Reads < 500 {
		t.Errorf("reads %d reads_per_s %v", rep.Reads, deref(rep.ReadsPerS))
	}
}

func TestReaderPacesItsReads(t *testing.T) {
	w, err := StartWriter(t.Context(), WriterConfig{DSN: primary.DSN, Rate: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = w.Halt(context.Background()) }()
	r := startReader(t, ReaderConfig{DSN: primary.DSN, Follows: w, Concurrency: 3, Rate: 100})
	waitFor(t, "100 reads", func() bool { ended, _ := r.Reads(); return ended >= 100 })
	rep, err := r.Stop(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Three connections share one rate: never faster than it.
	if rep.ReadsPerS == nil || *rep.ReadsPerS > 110 || *rep.ReadsPerS < 30 {
		t.Errorf("reads_per_s = %v, want about 100", deref(rep.ReadsPerS))
	}
}

// Replay paused on the replica: every read there misses the writes
// acknowledged since. The reader's count of what it missed is checked
// against SQL's (rows on the primary minus rows on the replica) and its age
// against the replica's last replayed commit.
func TestReaderOnAPausedReplicaReportsWhatItMissed(t *testing.T) {
	p, rs := newPair(t, true)
	pn, rn := Node{Name: "p", DSN: p.DSN("")}, Node{Name: "r", DSN: rs.DSN("")}
	const rate = 100
	w, err := StartWriter(t.Context(), WriterConfig{DSN: pn.DSN, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = w.Halt(context.Background()) }()
	countSQL := `SELECT count(*) FROM drill_writes WHERE run_id = $1`
	waitFor(t, "rows on the replica", func() bool {
		return len(acknowledged(w)) > 0 && queryInt(t, rn, `SELECT count(*) FROM pg_tables WHERE tablename = 'drill_writes'`) == 1 &&
			queryInt(t, rn, countSQL, w.RunID()) > 0
	})
	exec(t, rn, `SELECT pg_wal_replay_pause()`)
	waitFor(t, "replay paused", func() bool {
		return queryInt(t, rn, `SELECT (pg_get_wal_replay_pause_state() = 'paused')::int`) == 1
	})
	onReplica := queryInt(t, rn, countSQL, w.RunID())

	const concurrency = 2
	r := startReader(t, ReaderConfig{DSN: rn.DSN, Follows: w, Concurrency: concurrency})
	waitFor(t, "50 writes the replica has not replayed", func() bool { return int64(len(acknowledged(w))) >= onReplica+50 })
	if _, err := w.Halt(t.Context()); err != nil {
		t.Fatal(err)
	}
	readsAfter(t, r, concurrency, 5)
	rep, err := r.Stop(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	onPrimary := queryInt(t, pn, countSQL, w.RunID())
	if got := queryInt(t, rn, countSQL, w.RunID()); got != onReplica {
		t.Fatalf("the replica replayed while paused: %d rows, then %d", onReplica, got)
	}
	if ws := w.Summary(); ws.Acknowledged != ws.Attempts || int64(ws.Acknowledged) != onPrimary {
		t.Fatalf("writer: %d attempts, %d acknowledged, %d rows on the primary", ws.Attempts, ws.Acknowledged, onPrimary)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	rows, err := Query(ctx, rn.DSN, `SELECT pg_last_xact_replay_timestamp() AS replayed, extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS lag_s`)
	if err != nil {
		t.Fatal(err)
	}
	replayed, ok := rows[0]["replayed"].(time.Time)
	if !ok {
		t.Fatalf("pg_last_xact_replay_timestamp() = %v", rows[0]["replayed"])
	}
	t.Logf("%d reads (%d stale, %d errors); max_stale_rows %d, max_stale_s %.3f; SQL: %d rows missing, replay lag %.3f s at the query, %.3f s at the last read",
		rep.Reads, deref(rep.StaleReads), rep.ReadErrors, deref(rep.MaxStaleRows), deref(rep.MaxStaleS), onPrimary-onReplica,
		rows[0]["lag_s"], rep.End.Sub(replayed).Seconds())

	if rep.StaleReads == nil || *rep.StaleReads == 0 || rep.ReadErrors != 0 {
		t.Fatalf("stale_reads = %v, errors %d (%s): want stale reads and no error", deref(rep.StaleReads), rep.ReadErrors, rep.FirstError)
	}
	if want := onPrimary - onReplica; rep.MaxStaleRows == nil || *rep.MaxStaleRows != want {
		t.Errorf("max_stale_rows = %v, want %d (rows on the primary minus rows on the replica)", deref(rep.MaxStaleRows), want)
	}
	// The last replayed commit is the replica's newest row; the first row a
	// read missed committed after it, within one write interval plus its
	// round trip, and was acknowledged after that. So the reader's age is
	// at most the replay lag at its last read's end and trails it by at
	// most the interval, the acknowledgement's latency and the read's own
	// duration: tolerance 1/rate + 250 ms, for a busy machine.
	lagAtEnd := rep.End.Sub(replayed).Seconds()
	tolerance := 1.0/rate + 0.25
	if rep.MaxStaleS == nil || *rep.MaxStaleS > lagAtEnd || *rep.MaxStaleS < lagAtEnd-tolerance {
		t.Errorf("max_stale_s = %v, want within %.3f s below the replay lag %.3f s", deref(rep.MaxStaleS), tolerance, lagAtEnd)
	}
	if rep.BackwardsReads == nil || *rep.BackwardsReads != 0 {
		t.Errorf("backwards_reads = %v on a replica that did not move", deref(rep.BackwardsReads))
	}
}

func TestReaderWithoutWriterTableFailsToStart(t *testing.T) {
	p, _ := newPair(t, false)
	_, err := StartReader(t.Context(), ReaderConfig{DSN: p.DSN("")})
	if err == nil || !strings.Contains(err.Error(), WritesTable) {
		t.Fatalf("a reader where drill_writes does not exist: %v", err)
	}
}

// The server is down from the end of Stop to the start of Start: the
// reader's outage covers that window and ends at most a retry interval, a
// reconnection and a read after the server is back (1 s of slack on a busy
// machine).
func TestReaderOutageAcrossARestart(t *testing.T) {
	p, _ := newPair(t, false)
	node := Node{Name: "p", DSN: p.DSN("")}
	exec(t, node, createWrites)
	r := startReader(t, ReaderConfig{DSN: node.DSN, Concurrency: 2, LoopConfig: LoopConfig{ConnectTimeout: 500 * time.Millisecond}})
	waitFor(t, "100 reads", func() bool { ended, _ := r.Reads(); return ended >= 100 })
	t0 := time.Now()
	if err := p.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	// Ten failures of two connections retrying every 100 ms: down for 0.5 s.
	waitFor(t, "failed reads", func() bool { _, failed := r.Reads(); return failed >= 10 })
	t2 := time.Now()
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t3 := time.Now()
	ended, _ := r.Reads()
	waitFor(t, "reads after the restart", func() bool { now, failed := r.Reads(); return now-failed >= ended+100 })
	rep, err := r.Stop(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads, %d errors; read_outage_s %.3f; server down %.3f..%.3f s", rep.Reads, rep.ReadErrors, deref(rep.ReadOutageS), t2.Sub(t1).Seconds(), t3.Sub(t0).Seconds())
	if rep.ReadErrors == 0 || rep.OutageOpen || rep.ReadOutageS == nil {
		t.Fatalf("errors %d, outage %v open %v: want a closed outage", rep.ReadErrors, deref(rep.ReadOutageS), rep.OutageOpen)
	}
	if lo, hi := t2.Sub(t1).Seconds(), t3.Sub(t0).Seconds()+1; *rep.ReadOutageS < lo || *rep.ReadOutageS > hi {
		t.Errorf("read_outage_s = %.3f, want from %.3f to %.3f", *rep.ReadOutageS, lo, hi)
	}
	if rep.StaleReads != nil || rep.BackwardsReads != nil {
		t.Errorf("staleness measured for a reader that follows no writer: %+v", rep)
	}
	// The timeline's window of the outage is read_outage_s, and began
	// after the server was stopped; the buckets count every read.
	if d := rep.OutageTo.Sub(rep.OutageFrom).Seconds(); d != *rep.ReadOutageS || rep.OutageFrom.Before(t0) {
		t.Errorf("outage window %s..%s (%.3f s), want read_outage_s %.3f from after %s", rep.OutageFrom, rep.OutageTo, d, *rep.ReadOutageS, t0)
	}
	ok, failed := 0, 0
	for i := range rep.Buckets.OK {
		ok, failed = ok+rep.Buckets.OK[i], failed+rep.Buckets.Failed[i]
	}
	if ok != rep.Reads || failed != rep.ReadErrors || rep.Buckets.Width != BucketWidth || !rep.Buckets.Start.Equal(rep.Start) {
		t.Errorf("buckets from %s (reads from %s): %d ok and %d failed reads, want %d and %d", rep.Buckets.Start, rep.Start, ok, failed, rep.Reads, rep.ReadErrors)
	}
}
