package pg

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// The set reads of these tests: read i (0..4) starts at 1000 + 100*i ms
// and takes 10 ms; the final read-back starts at 1600 ms.
var setT0 = time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)

func setAt(ms int) time.Time { return setT0.Add(time.Duration(ms) * time.Millisecond) }

func setMS(ms int) float64 { return (time.Duration(ms) * time.Millisecond).Seconds() }

const setFinal = 1600

// setSaw is one write seen by the set reads: saw[i] is 'x' when read i saw it.
type setSaw struct {
	a       Attempt
	saw     string
	present bool
}

// runSetReads feeds five reads to a setReads and combines them with the
// final read-back as Stop does.
func runSetReads(writes []setSaw, tried int64) WriterReport {
	var s setReads
	for i := range 5 {
		var seqs []int64
		for _, w := range writes {
			if w.saw[i] == 'x' {
				seqs = append(seqs, w.a.Seq)
			}
		}
		s.observe(readSpan{Start: setAt(1000 + 100*i), End: setAt(1010 + 100*i)}, seqs, tried)
	}
	var attempts []Attempt
	rows := make([]int, tried+1)
	for _, w := range writes {
		attempts = append(attempts, w.a)
		if w.present {
			rows[w.a.Seq] = 1
		}
	}
	var r WriterReport
	r.visibility(attempts, rows, s.reads, s.seqs, setAt(setFinal))
	return r
}

func optMS(ms int) *time.Time {
	if ms < 0 {
		return nil
	}
	return ptr(setAt(ms))
}

// TestSetVisibilityClassifiesEachWrite: one write at a time, how the set
// reads and the final read-back classify it and when it became visible,
// in exact values.
func TestSetVisibilityClassifiesEachWrite(t *testing.T) {
	ack := func(start, end int) Attempt {
		return Attempt{Seq: 1, Start: setAt(start), End: setAt(end), Outcome: Acknowledged}
	}
	other := func(o Outcome, start, end int) Attempt {
		return Attempt{Seq: 1, Start: setAt(start), End: setAt(end), Outcome: o}
	}
	for _, tc := range []struct {
		name     string
		w        setSaw
		after    int // ms from the acknowledgement to stable visibility; -1: not measured
		vanished int
		unread   int
		fate     *WriteFate // nil: not listed
	}{
		{"acknowledged, seen from the second read on", setSaw{ack(1040, 1050), ".xxxx", true}, 50, 0, 0, nil},
		{"seen, missed, seen again: visible from the read after the miss", setSaw{ack(980, 990), "xx.xx", true}, 310, 0, 0, nil},
		{"missed by the last set read, present at the end: visible at the final read", setSaw{ack(940, 950), "xxxx.", true}, 650, 0, 0, nil},
		{"a read that began before the acknowledgement saw it: 0", setSaw{ack(1090, 1120), ".xxxx", true}, 0, 0, 0, nil},
		{"present, never seen by a set read: unread, visible at the final read", setSaw{ack(1440, 1450), ".....", true}, 150, 0, 1, nil},
		{"acknowledged, seen, then missing: vanished", setSaw{ack(940, 950), "xxx..", false}, -1, 1, 0,
			&WriteFate{Seq: 1, Fate: FateVanished, Outcome: Acknowledged, AcknowledgedAt: optMS(950), FirstSeenAt: optMS(1000), LastSeenAt: optMS(1200)}},
		{"seen by the last set read, missing from the final one: vanished", setSaw{ack(940, 950), "xxxxx", false}, -1, 1, 0,
			&WriteFate{Seq: 1, Fate: FateVanished, Outcome: Acknowledged, AcknowledgedAt: optMS(950), FirstSeenAt: optMS(1000), LastSeenAt: optMS(1400)}},
		{"acknowledged, never seen, missing: lost", setSaw{ack(940, 950), ".....", false}, -1, 0, 0,
			&WriteFate{Seq: 1, Fate: FateLost, Outcome: Acknowledged, AcknowledgedAt: optMS(950)}},
		{"indeterminate, present: a ghost visible from the third read", setSaw{other(Indeterminate, 1150, 1350), "..xxx", true}, -1, 0, 0,
			&WriteFate{Seq: 1, Fate: FateGhost, Outcome: Indeterminate, VisibleAt: optMS(1200), FirstSeenAt: optMS(1200), LastSeenAt: optMS(1400)}},
		{"a ghost a read saw before its attempt began: visible from the attempt's start", setSaw{other(Failed, 1250, 1260), "..xxx", true}, -1, 0, 0,
			&WriteFate{Seq: 1, Fate: FateGhost, Outcome: Failed, VisibleAt: optMS(1250), FirstSeenAt: optMS(1250), LastSeenAt: optMS(1400)}},
		{"a ghost no set read saw", setSaw{other(Indeterminate, 1450, 1500), ".....", true}, -1, 0, 1,
			&WriteFate{Seq: 1, Fate: FateGhost, Outcome: Indeterminate, VisibleAt: optMS(setFinal)}},
		{"failed, seen, then missing: vanished, not lost", setSaw{other(Failed, 1040, 1050), ".x...", false}, -1, 1, 0,
			&WriteFate{Seq: 1, Fate: FateVanished, Outcome: Failed, FirstSeenAt: optMS(1100), LastSeenAt: optMS(1100)}},
		{"indeterminate, never seen, missing: not listed", setSaw{other(Indeterminate, 1040, 1050), ".....", false}, -1, 0, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runSetReads([]setSaw{tc.w}, 1)
			if deref(r.VanishedWrites) != tc.vanished || deref(r.UnreadWrites) != tc.unread || r.VanishedWrites == nil || r.UnreadWrites == nil {
				t.Errorf("vanished %v unread %v, want %d and %d", r.VanishedWrites, r.UnreadWrites, tc.vanished, tc.unread)
			}
			var wantAfter *float64
			if tc.after >= 0 {
				wantAfter = ptr(setMS(tc.after))
			}
			if !reflect.DeepEqual(r.VisibleAfterP50S, wantAfter) || !reflect.DeepEqual(r.VisibleAfterMaxS, wantAfter) {
				t.Errorf("visible after p50 %v max %v, want %v", r.VisibleAfterP50S, r.VisibleAfterMaxS, wantAfter)
			}
			var wantFates []WriteFate
			var wantGhostAt *time.Time
			if tc.fate != nil {
				wantFates = []WriteFate{*tc.fate}
				if tc.fate.Fate == FateGhost {
					wantGhostAt = tc.fate.VisibleAt
				}
			}
			if !reflect.DeepEqual(r.Fates, wantFates) {
				t.Errorf("fates = %+v, want %+v", r.Fates, wantFates)
			}
			if !reflect.DeepEqual(r.GhostVisibleAt, wantGhostAt) {
				t.Errorf("ghost visible at %v, want %v", r.GhostVisibleAt, wantGhostAt)
			}
		})
	}
}

// TestSetVisibilityOfARun: the counts and quantiles over several writes,
// and the writes listed in sequence order.
func TestSetVisibilityOfARun(t *testing.T) {
	ack := func(seq int64, start, end int) Attempt {
		return Attempt{Seq: seq, Start: setAt(start), End: setAt(end), Outcome: Acknowledged}
	}
	writes := []setSaw{
		{ack(1, 940, 950), "xxxx.", true},  // visible after 650 ms
		{ack(2, 960, 970), "xx...", false}, // vanished
		{ack(3, 980, 990), "xx.xx", true},  // 310 ms
		{Attempt{Seq: 4, Start: setAt(1000), End: setAt(1200), Outcome: Indeterminate}, "..xxx", true}, // ghost at 1200
		{ack(5, 1040, 1050), ".xxxx", true},                                                     // 50 ms
		{ack(6, 1090, 1120), ".xxxx", true},                                                     // 0
		{ack(7, 1200, 1210), ".....", false},                                                    // lost
		{Attempt{Seq: 8, Start: setAt(1300), End: setAt(1310), Outcome: Failed}, "....x", true}, // ghost at 1400
		{ack(9, 1440, 1450), ".....", true},                                                     // unread, 150 ms
	}
	r := runSetReads(writes, 9)

	got := r.Metrics()
	want := map[string]float64{"vanished_writes": 1, "unread_writes": 1, "visible_after_s_p50": setMS(150), "visible_after_s_max": setMS(650)}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (recorded %v), want %v", name, g, ok, v)
		}
	}
	if r.GhostVisibleAt == nil || !r.GhostVisibleAt.Equal(setAt(1200)) {
		t.Errorf("ghost_visible_at = %v, want 1200 ms", r.GhostVisibleAt)
	}
	var seqs []int64
	var fates []string
	for _, f := range r.Fates {
		seqs, fates = append(seqs, f.Seq), append(fates, f.Fate)
	}
	if !reflect.DeepEqual(seqs, []int64{2, 4, 7, 8}) || !reflect.DeepEqual(fates, []string{FateVanished, FateGhost, FateLost, FateGhost}) {
		t.Errorf("fates %v %v, want [2 4 7 8] [vanished ghost lost ghost]", seqs, fates)
	}
}

// TestSetVisibilityNotMeasured: without a successful set read nothing is
// recorded, not zeros; set_reads and set_read_errors come from the
// writer's summary whenever set reads were on.
func TestSetVisibilityNotMeasured(t *testing.T) {
	var r WriterReport
	r.visibility([]Attempt{{Seq: 1, Outcome: Acknowledged}}, []int{0, 1}, nil, nil, setAt(setFinal))
	m := r.Metrics()
	for _, name := range []string{"set_reads", "set_read_errors", "vanished_writes", "unread_writes", "visible_after_s_p50", "visible_after_s_max"} {
		if _, ok := m[name]; ok {
			t.Errorf("%s recorded without a set read: %v", name, m)
		}
	}
	if r.Fates != nil || r.GhostVisibleAt != nil {
		t.Errorf("report = %+v", r)
	}
}

// TestSetVisibilityListsAtMostMaxListedOfEachFate.
func TestSetVisibilityListsAtMostMaxListedOfEachFate(t *testing.T) {
	var attempts []Attempt
	for seq := int64(1); seq <= maxListed+5; seq++ {
		attempts = append(attempts, Attempt{Seq: seq, Outcome: Acknowledged}, Attempt{Seq: maxListed + 5 + seq, Outcome: Failed})
	}
	rows := make([]int, 2*(maxListed+5)+1)
	for seq := maxListed + 6; seq < len(rows); seq++ {
		rows[seq] = 1 // every failed write present: ghosts
	}
	var r WriterReport
	r.visibility(attempts, rows, []readSpan{{Start: setAt(1000), End: setAt(1010)}}, nil, setAt(setFinal))
	n := map[string]int{}
	for _, f := range r.Fates {
		n[f.Fate]++
	}
	if n[FateLost] != maxListed || n[FateGhost] != maxListed || len(n) != 2 {
		t.Errorf("listed %v, want %d lost and %d ghost", n, maxListed, maxListed)
	}
}

// TestSetReadsLeaveOutRowsTheWriterCannotHaveWritten: a set read's rows
// outside 1..tried (someone else's) are not tracked, and take no memory.
func TestSetReadsLeaveOutRowsTheWriterCannotHaveWritten(t *testing.T) {
	var s setReads
	s.observe(readSpan{Start: setAt(1000), End: setAt(1010)}, []int64{2, 1_000_000_000, 0, -3, 1}, 2)
	s.observe(readSpan{Start: setAt(1100), End: setAt(1110)}, []int64{3, 2}, 3)
	want := []seqSight{unseen, {first: 0, last: 0, since: -1}, {first: 0, last: 1, since: 0}, {first: 1, last: 1, since: 1}}
	if !reflect.DeepEqual(s.seqs, want) {
		t.Errorf("seqs = %+v, want %+v", s.seqs, want)
	}
	if got := s.sight(1_000_000_000); got != unseen {
		t.Errorf("sight of a seq never tried = %+v", got)
	}
}

// lastSetRead returns the writer's latest successful set read.
func lastSetRead(w *Writer) readSpan {
	w.set.mu.Lock()
	defer w.set.mu.Unlock()
	if len(w.set.reads) == 0 {
		return readSpan{}
	}
	return w.set.reads[len(w.set.reads)-1]
}

// TestWriterSetReadsAgainstPostgres runs a writer with set reads on the
// real primary and, from other connections: kills the set reader's
// connection (one failed read, then it reads again); deletes acknowledged
// rows the set reader has seen (a rewind: they vanish); and puts in a row
// for a seq the writer has not reached, so that its insert fails on the
// duplicate key while the row is there (a ghost).
func TestWriterSetReadsAgainstPostgres(t *testing.T) {
	w, err := StartWriter(t.Context(), WriterConfig{DSN: primary.DSN, Rate: 100, SetRead: MinSetRead})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "20 acknowledged writes and a set read", func() bool {
		ok, _, _ := w.set.counts()
		return len(acknowledged(w)) >= 20 && ok > 0
	})

	killed := queryInt(t, primary, `WITH r AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE query = $1)
		SELECT count(*) FROM r WHERE pg_terminate_backend(pid)`, readSet)
	if killed != 1 {
		t.Fatalf("terminated %d set-reader connections, want 1", killed)
	}
	var afterKill int
	waitFor(t, "a failed set read", func() bool {
		ok, failed, _ := w.set.counts()
		afterKill = ok
		return failed > 0
	})
	waitFor(t, "set reads again", func() bool { ok, _, _ := w.set.counts(); return ok > afterKill })

	victims := acknowledged(w)[3:8]
	waitFor(t, "the set reader to see the victims", func() bool {
		for _, v := range victims {
			if w.set.sight(v).first < 0 {
				return false
			}
		}
		return true
	})
	exec(t, primary, `DELETE FROM drill_writes WHERE run_id = $1 AND seq = ANY($2)`, w.RunID(), victims)
	deleted := time.Now()
	waitFor(t, "a set read that began after the deletion", func() bool { return lastSetRead(w).Start.After(deleted) })

	ghost := w.tried() + 20
	exec(t, primary, `INSERT INTO drill_writes (run_id, seq) VALUES ($1, $2)`, w.RunID(), ghost)
	waitFor(t, "the writer past the ghost's seq and a set read that saw it", func() bool {
		return w.tried() > ghost+5 && w.set.sight(ghost).first >= 0
	})

	r, err := w.Stop(t.Context(), primary)
	stopped := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	attempts := w.Attempts()
	t.Logf("attempts %d, set reads %d (%d failed: %s), vanished %d, unread %d, visible after p50 %.3f max %.3f s",
		r.Attempts, deref(r.SetReads), deref(r.SetReadErrors), r.SetReadError, deref(r.VanishedWrites), deref(r.UnreadWrites),
		deref(r.VisibleAfterP50S), deref(r.VisibleAfterMaxS))

	if deref(r.SetReadErrors) != 1 || r.SetReadError == "" || deref(r.SetReads) <= afterKill {
		t.Errorf("set reads %v, failed %v (%q), want more than %d and exactly 1", r.SetReads, r.SetReadErrors, r.SetReadError, afterKill)
	}
	if r.VanishedWrites == nil || *r.VanishedWrites != len(victims) || deref(r.LostWrites) != len(victims) || !slices.Equal(r.LostSeqs, victims) {
		t.Errorf("vanished %v, lost %v %v, want %d: %v", r.VanishedWrites, r.LostWrites, r.LostSeqs, len(victims), victims)
	}
	if deref(r.FailedButPresent) != 1 || !slices.Equal(r.GhostSeqs, []int64{ghost}) {
		t.Errorf("failed but present %v, ghosts %v, want 1: [%d]", r.FailedButPresent, r.GhostSeqs, ghost)
	}
	var vanished []int64
	for _, f := range r.Fates {
		a := attempts[f.Seq-1]
		switch f.Fate {
		case FateVanished:
			vanished = append(vanished, f.Seq)
			if f.AcknowledgedAt == nil || !f.AcknowledgedAt.Equal(a.End) || f.FirstSeenAt == nil || f.LastSeenAt == nil ||
				f.FirstSeenAt.Before(a.Start) || f.LastSeenAt.Before(*f.FirstSeenAt) || !f.LastSeenAt.Before(deleted) {
				t.Errorf("vanished %+v: want acknowledged at %s, seen within [%s, %s)", f, a.End, a.Start, deleted)
			}
		case FateGhost:
			if f.Seq != ghost || a.Outcome != Failed || f.VisibleAt == nil || f.VisibleAt.Before(a.Start) || f.VisibleAt.After(stopped) ||
				r.GhostVisibleAt == nil || !r.GhostVisibleAt.Equal(*f.VisibleAt) {
				t.Errorf("ghost %+v (attempt %+v), ghost_visible_at %v: want visible within [%s, %s]", f, a, r.GhostVisibleAt, a.Start, stopped)
			}
		default:
			t.Errorf("unexpected fate %+v", f)
		}
	}
	if !slices.Equal(vanished, victims) {
		t.Errorf("vanished writes listed %v, want %v", vanished, victims)
	}
	if r.VisibleAfterP50S == nil || r.VisibleAfterMaxS == nil || *r.VisibleAfterP50S < 0 || *r.VisibleAfterP50S > *r.VisibleAfterMaxS ||
		*r.VisibleAfterMaxS > stopped.Sub(attempts[0].End).Seconds() {
		t.Errorf("visible after p50 %v max %v, want 0 <= p50 <= max <= %s", r.VisibleAfterP50S, r.VisibleAfterMaxS, stopped.Sub(attempts[0].End))
	}
	if r.UnreadWrites == nil || *r.UnreadWrites > r.Acknowledged {
		t.Errorf("unread %v of %d acknowledged", r.UnreadWrites, r.Acknowledged)
	}
	m := r.Metrics()
	for name, want := range map[string]float64{"vanished_writes": float64(len(victims)), "set_read_errors": 1, "lost_writes": float64(len(victims)), "ghost_writes": 1} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (recorded %v), want %v", name, got, ok, want)
		}
	}
}
