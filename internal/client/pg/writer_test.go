package pg

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func acknowledged(w *Writer) []int64 {
	var seqs []int64
	for _, a := range w.Attempts() {
		if a.Outcome == Acknowledged {
			seqs = append(seqs, a.Seq)
		}
	}
	return seqs
}

func TestWriterCountsRowsDeletedBehindItsBackAsLost(t *testing.T) {
	w, err := StartWriter(t.Context(), WriterConfig{DSN: primary.DSN, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "20 acknowledged writes", func() bool { return len(acknowledged(w)) >= 20 })
	victims := acknowledged(w)[3:8]
	exec(t, primary, `DELETE FROM drill_writes WHERE run_id = $1 AND seq = ANY($2)`, w.RunID(), victims)
	time.Sleep(200 * time.Millisecond)

	r, err := w.Stop(t.Context(), primary)
	if err != nil {
		t.Fatal(err)
	}
	if r.LostWrites == nil || *r.LostWrites != len(victims) || !slices.Equal(r.LostSeqs, victims) {
		t.Errorf("lost = %v %v, want %v", deref(r.LostWrites), r.LostSeqs, victims)
	}
	if r.Failed != 0 || r.Indeterminate != 0 || r.Acknowledged != r.Attempts || r.WriteRTOS != nil || r.ReconnectS != nil || r.OutageOpen {
		t.Errorf("a clean run reported trouble: %+v", r)
	}
	if r.ThroughputOps == nil || *r.ThroughputOps < 50 || *r.ThroughputOps > 250 {
		t.Errorf("throughput = %v, want about 200/s", deref(r.ThroughputOps))
	}
	m := r.Metrics()
	if m["lost_writes"] != float64(len(victims)) {
		t.Errorf("metrics = %v", m)
	}
	for _, absent := range []string{"write_rto_s", "reconnect_s"} {
		if _, ok := m[absent]; ok {
			t.Errorf("metric %s present without an outage", absent)
		}
	}
	for _, absent := range []string{"set_reads", "set_read_errors", "vanished_writes", "unread_writes", "visible_after_s_max"} {
		if _, ok := m[absent]; ok {
			t.Errorf("metric %s present without set reads", absent)
		}
	}
	if r.Fates != nil || r.GhostVisibleAt != nil {
		t.Errorf("set-read fields without set reads: %+v", r)
	}

	// The replica agrees once it has replayed the deletion.
	if _, err := WaitCatchUp(t.Context(), primary, []Node{replica}, 10*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	r2, err := w.Stop(t.Context(), replica) // Stop twice: verify elsewhere
	if err != nil {
		t.Fatal(err)
	}
	if r2.LostWrites == nil || *r2.LostWrites != len(victims) || r2.VerifiedOn != "replica1" {
		t.Errorf("verified on the replica: lost = %v on %s", deref(r2.LostWrites), r2.VerifiedOn)
	}
}

func TestWriterAcrossACrashAndRestart(t *testing.T) {
	p, _ := newPair(t, false)
	node := Node{Name: "p", DSN: p.DSN("")}
	w, err := StartWriter(t.Context(), WriterConfig{DSN: node.DSN, LoopConfig: LoopConfig{ConnectTimeout: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "100 acknowledged writes", func() bool { return len(acknowledged(w)) >= 100 })
	if err := p.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	time.Sleep(time.Second)
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := len(acknowledged(w))
	waitFor(t, "writes after the restart", func() bool { return len(acknowledged(w)) >= n+100 })

	verifyCtx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := w.Stop(verifyCtx, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("attempts %d ack %d failed %d indeterminate %d write_rto_s %.3f reconnect_s %.3f lost %d indeterminate-committed %d",
		r.Attempts, r.Acknowledged, r.Failed, r.Indeterminate, deref(r.WriteRTOS), deref(r.ReconnectS),
		deref(r.LostWrites), deref(r.IndeterminateCommitted))
	if r.Failed == 0 {
		t.Error("no failed attempt while the server was down")
	}
	if r.WriteRTOS == nil || *r.WriteRTOS < 1 || *r.WriteRTOS > 10 {
		t.Errorf("write_rto_s = %v, want the outage (>= 1 s)", deref(r.WriteRTOS))
	}
	if r.ReconnectS == nil || *r.ReconnectS > *r.WriteRTOS || *r.ReconnectS < 1 {
		t.Errorf("reconnect_s = %v, want >= 1 s and <= write_rto_s", deref(r.ReconnectS))
	}
	// A crash of PostgreSQL alone loses no acknowledged commit.
	if r.LostWrites == nil || *r.LostWrites != 0 || r.FailedButPresent == nil || *r.FailedButPresent != 0 {
		t.Errorf("lost %v failed-but-present %v, want 0 and 0", deref(r.LostWrites), deref(r.FailedButPresent))
	}
	// The outage starts at the first attempt that was not acknowledged,
	// which started before the crash.
	as := w.Attempts()
	i := slices.IndexFunc(as, func(a Attempt) bool { return a.Outcome != Acknowledged })
	if i < 0 || as[i].Start.After(down) {
		t.Errorf("first failure %+v does not precede the crash at %s", as[i], down)
	}
	if r.OutageOpen || r.Acknowledged+r.Failed+r.Indeterminate != r.Attempts {
		t.Errorf("inconsistent report %+v", r)
	}
}

func TestWriterReportsOpenOutageAndFailedVerification(t *testing.T) {
	p, _ := newPair(t, false)
	node := Node{Name: "p", DSN: p.DSN("")}
	w, err := StartWriter(t.Context(), WriterConfig{DSN: node.DSN, Rate: 100, LoopConfig: LoopConfig{ConnectTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "10 acknowledged writes", func() bool { return len(acknowledged(w)) >= 10 })
	if err := p.Stop("fast"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	r, err := w.Stop(t.Context(), node)
	if err == nil {
		t.Fatal("verification against a stopped server: want an error")
	}
	if !r.OutageOpen || r.WriteRTOS != nil || r.ReconnectS != nil || r.LostWrites != nil || r.VerifyError == "" {
		t.Errorf("report = %+v", r)
	}
	m := r.Metrics()
	for _, absent := range []string{"lost_writes", "write_rto_s", "reconnect_s"} {
		if _, ok := m[absent]; ok {
			t.Errorf("metric %s reported although not measured: %v", absent, m)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, Acknowledged},
		{"duplicate key", &pgconn.PgError{Severity: "ERROR", Code: "23505"}, Failed},
		{"read-only standby", &pgconn.PgError{Severity: "ERROR", Code: "25006"}, Failed},
		{"statement timeout", &pgconn.PgError{Severity: "ERROR", Code: "57014"}, Failed},
		{"pooler lost the server", &pgconn.PgError{Severity: "ERROR", Code: "08P01"}, Indeterminate},
		{"admin shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, Indeterminate},
		{"EOF", io.ErrUnexpectedEOF, Indeterminate},
		{"timeout", context.DeadlineExceeded, Indeterminate},
		{"wrapped", errors.Join(errors.New("x"), &pgconn.PgError{Severity: "ERROR", Code: "23505"}), Failed},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSummarizeMeasuresTheFirstOutage(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	as := []Attempt{
		{Seq: 1, Start: at(0), End: at(10), Outcome: Acknowledged},
		{Seq: 2, Start: at(100), End: at(150), Outcome: Indeterminate},
		{Seq: 3, Start: at(250), End: at(260), Outcome: Failed, NewConn: true},
		{Seq: 4, Start: at(400), End: at(2400), Outcome: Failed, NewConn: true, Connected: at(410)},
		{Seq: 5, Start: at(2500), End: at(2520), Outcome: Acknowledged, NewConn: true, Connected: at(2510)},
		{Seq: 6, Start: at(3000), End: at(3010), Outcome: Failed},
		{Seq: 7, Start: at(3100), End: at(3110), Outcome: Acknowledged, NewConn: true, Connected: at(3105)},
	}
	r := summarize("run", as)
	if r.Attempts != 7 || r.Acknowledged != 3 || r.Failed != 3 || r.Indeterminate != 1 {
		t.Errorf("counts = %+v", r)
	}
	if r.WriteRTOS == nil || *r.WriteRTOS != 2.42 {
		t.Errorf("write_rto_s = %v, want 2.42", deref(r.WriteRTOS))
	}
	if r.ReconnectS == nil || *r.ReconnectS != 2.41 {
		t.Errorf("reconnect_s = %v, want 2.41 (the connection that worked, not the one at 410 ms)", deref(r.ReconnectS))
	}
	if r.ThroughputOps == nil || *r.ThroughputOps != 3/3.11 {
		t.Errorf("throughput = %v", deref(r.ThroughputOps))
	}
	if empty := summarize("run", nil); empty.ThroughputOps != nil || empty.WriteRTOS != nil {
		t.Errorf("empty run = %+v", empty)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestClassifySortsEveryWrite: each attempt lands in exactly one class by
// its outcome and the rows found for it, as in Jepsen's set checker.
func TestClassifySortsEveryWrite(t *testing.T) {
	as := []Attempt{
		{Seq: 1, Outcome: Acknowledged},  // present
		{Seq: 2, Outcome: Acknowledged},  // lost
		{Seq: 3, Outcome: Indeterminate}, // ghost: committed despite the error
		{Seq: 4, Outcome: Indeterminate}, // never committed
		{Seq: 5, Outcome: Failed},        // never committed
		{Seq: 6, Outcome: Failed},        // ghost: the classification was wrong
		{Seq: 7, Outcome: Acknowledged},  // present twice: one duplicate row
	}
	rows := []int{0, 1, 0, 1, 0, 0, 1, 2}
	var r WriterReport
	r.classify(as, rows)
	got := r.Metrics()
	for name, want := range map[string]float64{"lost_writes": 1, "ghost_writes": 2, "never_committed_writes": 2, "duplicate_rows": 1} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v (metrics %v)", name, got[name], want, got)
		}
	}
	if *r.IndeterminateCommitted != 1 || *r.FailedButPresent != 1 {
		t.Errorf("indeterminate committed %d, failed but present %d, want 1 and 1", *r.IndeterminateCommitted, *r.FailedButPresent)
	}
	if !slices.Equal(r.LostSeqs, []int64{2}) || !slices.Equal(r.GhostSeqs, []int64{3, 6}) {
		t.Errorf("lost %v ghost %v, want [2] and [3 6]", r.LostSeqs, r.GhostSeqs)
	}
}

// TestWriterFindsGhostCommits makes commits that the client sees fail but
// that are there: with synchronous_standby_names naming a standby that
// never comes, a COMMIT is written locally and then waits; the writer's
// attempt times out (indeterminate) and the row stays. ghost_writes must
// equal an independent count of the unacknowledged rows in the table.
func TestWriterFindsGhostCommits(t *testing.T) {
	p, _ := newPair(t, false)
	node := Node{Name: "p", DSN: p.DSN("")}
	w, err := StartWriter(t.Context(), WriterConfig{DSN: node.DSN, Rate: 100, AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "10 acknowledged writes", func() bool { return len(acknowledged(w)) >= 10 })
	exec(t, node, `ALTER SYSTEM SET synchronous_standby_names = 'nobody'`)
	exec(t, node, `SELECT pg_reload_conf()`)
	unacknowledged := func() []int64 {
		var seqs []int64
		for _, a := range w.Attempts() {
			if a.Outcome != Acknowledged {
				seqs = append(seqs, a.Seq)
			}
		}
		return seqs
	}
	waitFor(t, "3 writes that are not acknowledged", func() bool { return len(unacknowledged()) >= 3 })
	exec(t, node, `ALTER SYSTEM RESET synchronous_standby_names`)
	exec(t, node, `SELECT pg_reload_conf()`)
	n := len(acknowledged(w))
	waitFor(t, "acknowledged writes again", func() bool { return len(acknowledged(w)) >= n+10 })

	r, err := w.Stop(t.Context(), node)
	if err != nil {
		t.Fatal(err)
	}
	failed := unacknowledged()
	present := queryInt(t, node, `SELECT count(*) FROM drill_writes WHERE run_id = $1 AND seq = ANY($2)`, w.RunID(), failed)
	t.Logf("%d writes not acknowledged (%d indeterminate, %d failed), %d of them in the table; report: ghost %d never committed %d lost %d",
		len(failed), r.Indeterminate, r.Failed, present, deref(r.GhostWrites), deref(r.NeverCommitted), deref(r.LostWrites))
	if present == 0 {
		t.Fatal("no commit survived its timeout: the test did not make a ghost commit")
	}
	if r.GhostWrites == nil || int64(*r.GhostWrites) != present {
		t.Errorf("ghost_writes = %v, want %d (the table's count)", deref(r.GhostWrites), present)
	}
	if r.NeverCommitted == nil || int64(*r.NeverCommitted) != int64(len(failed))-present {
		t.Errorf("never_committed_writes = %v, want %d", deref(r.NeverCommitted), int64(len(failed))-present)
	}
	if deref(r.LostWrites) != 0 || deref(r.DuplicateRows) != 0 {
		t.Errorf("lost %d duplicates %d, want 0 and 0", deref(r.LostWrites), deref(r.DuplicateRows))
	}
}
