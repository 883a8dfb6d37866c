package pg

import (
	"testing"
	"time"
)

// ms is a duration in (fractional) milliseconds, for synthetic logs.
func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

func TestAssessCountsStaleAndBackwardsReads(t *testing.T) {
	begin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var acks []Ack
	for seq := int64(1); seq <= 5; seq++ { // seq n acknowledged at n*10 ms
		acks = append(acks, Ack{Seq: seq, At: begin.Add(ms(float64(seq) * 10))})
	}
	reads := []read{
		{Start: ms(15), End: ms(16), Seen: 1},      // fresh: only seq 1 acknowledged before
		{Start: ms(35), End: ms(36), Seen: 1},      // stale: missed 2 and 3; 35-20 = 15 ms
		{Start: ms(45), End: ms(46), Seen: 4},      // fresh
		{Start: ms(45.5), End: ms(47), Seen: 3},    // stale: missed 4, 5.5 ms; less than the read before, but that one had not ended
		{Start: ms(60), End: ms(61), Seen: 2},      // stale: missed 3, 4, 5; 60-30 = 30 ms; backwards (saw 4 at 46 ms)
		{Start: ms(65), End: ms(100), Seen: 5},     // began before the failure: does not end the outage
		{Start: ms(70), End: ms(75), Seen: -1},     // failed
		{Start: ms(71), End: ms(95), Seen: 5},      // began after the failure, ended at 95
		{Start: ms(80), End: ms(90), Seen: 5},      // began after the failure, ended first: the outage is 70..90
		{Start: ms(91), End: ms(92), Seen: -1},     // failed: 91..95 (the read that began at 71 does not count)
		{Start: ms(93), End: ms(95.5), Seen: 5},    // ...ends this one at 95.5
		{Start: ms(96), End: ms(96.5), Seen: 5},    // fresh
		{Start: ms(99), End: ms(99.25), Seen: 5},   // fresh
		{Start: ms(99.5), End: ms(99.75), Seen: 5}, // fresh
	}
	rep := assess(begin, reads, true, acks)
	if rep.Reads != 12 || rep.ReadErrors != 2 {
		t.Errorf("reads %d errors %d, want 12 and 2", rep.Reads, rep.ReadErrors)
	}
	if want := 12 / ms(100-15).Seconds(); rep.ReadsPerS == nil || *rep.ReadsPerS != want {
		t.Errorf("reads_per_s = %v, want %v", deref(rep.ReadsPerS), want)
	}
	if want := ms(20).Seconds(); rep.ReadOutageS == nil || *rep.ReadOutageS != want || rep.OutageOpen {
		t.Errorf("read_outage_s = %v (open %v), want %v", deref(rep.ReadOutageS), rep.OutageOpen, want)
	}
	if rep.StaleReads == nil || *rep.StaleReads != 3 {
		t.Errorf("stale_reads = %v, want 3", deref(rep.StaleReads))
	}
	if rep.MaxStaleRows == nil || *rep.MaxStaleRows != 3 {
		t.Errorf("max_stale_rows = %v, want 3", deref(rep.MaxStaleRows))
	}
	if want := ms(30).Seconds(); rep.MaxStaleS == nil || *rep.MaxStaleS != want {
		t.Errorf("max_stale_s = %v, want %v", deref(rep.MaxStaleS), want)
	}
	if rep.BackwardsReads == nil || *rep.BackwardsReads != 1 {
		t.Errorf("backwards_reads = %v, want 1", deref(rep.BackwardsReads))
	}
	if !rep.Start.Equal(begin.Add(ms(15))) || !rep.End.Equal(begin.Add(ms(100))) {
		t.Errorf("span %s..%s", rep.Start, rep.End)
	}
	m := rep.Metrics()
	for name, want := range map[string]float64{"reads": 12, "read_errors": 2, "stale_reads": 3, "max_stale_rows": 3, "backwards_reads": 1} {
		if m[name] != want {
			t.Errorf("metric %s = %v, want %v", name, m[name], want)
		}
	}
}

func TestAssessLeavesOutWhatItCannotMeasure(t *testing.T) {
	begin := time.Now()
	healthy := []read{{Start: ms(1), End: ms(2), Seen: 0}, {Start: ms(3), End: ms(4), Seen: 0}}
	rep := assess(begin, healthy, false, nil)
	m := rep.Metrics()
	for _, absent := range []string{"read_outage_s", "stale_reads", "max_stale_rows", "max_stale_s", "backwards_reads"} {
		if _, ok := m[absent]; ok {
			t.Errorf("%s recorded for a reader that follows no writer and never failed: %v", absent, m)
		}
	}
	if m["reads"] != 2 || m["reads_per_s"] != 2/ms(3).Seconds() {
		t.Errorf("metrics = %v", m)
	}

	// A failure no read recovered from: the outage is open, not measured.
	open := append(healthy, read{Start: ms(5), End: ms(6), Seen: -1})
	rep = assess(begin, open, false, nil)
	if rep.ReadOutageS != nil || !rep.OutageOpen {
		t.Errorf("open outage: read_outage_s = %v, open %v", deref(rep.ReadOutageS), rep.OutageOpen)
	}

	// Following a writer with no read that returned: no staleness either.
	rep = assess(begin, []read{{Start: ms(1), End: ms(2), Seen: -1}}, true, []Ack{{Seq: 1, At: begin}})
	if rep.StaleReads != nil || rep.BackwardsReads != nil || rep.ReadsPerS == nil || *rep.ReadsPerS != 0 {
		t.Errorf("no successful read: %+v", rep)
	}

	// No reads at all: nothing but the zero counts.
	if m := assess(begin, nil, true, nil).Metrics(); len(m) != 2 {
		t.Errorf("no reads: %v", m)
	}
}
