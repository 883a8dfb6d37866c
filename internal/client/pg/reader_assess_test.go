package pg

import (
	"reflect"
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

// TestAssessBucketsAndOutageWindow: the reads per 100 ms bucket by their
// end, from the first read's start, and the window of the longest outage,
// closed and then open.
func TestAssessBucketsAndOutageWindow(t *testing.T) {
	begin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reads := []read{
		{Start: ms(20), End: ms(30), Seen: 0},    // bucket 0 (from 20 ms)
		{Start: ms(50), End: ms(120), Seen: -1},  // bucket 1; outage 50..150
		{Start: ms(130), End: ms(150), Seen: 0},  // bucket 1
		{Start: ms(200), End: ms(210), Seen: -1}, // bucket 1
		{Start: ms(220), End: ms(480), Seen: 0},  // bucket 4; ends the longest outage, 200..480
	}
	rep := assess(begin, reads, false, nil)
	want := ReadBuckets{Start: begin.Add(ms(20)), Width: BucketWidth, OK: []int{1, 1, 0, 0, 1}, Failed: []int{0, 2, 0, 0, 0}}
	if !reflect.DeepEqual(rep.Buckets, want) {
		t.Errorf("buckets:\n got %+v\nwant %+v", rep.Buckets, want)
	}
	if rep.OutageOpen || rep.ReadOutageS == nil || *rep.ReadOutageS != ms(280).Seconds() ||
		!rep.OutageFrom.Equal(begin.Add(ms(200))) || !rep.OutageTo.Equal(begin.Add(ms(480))) {
		t.Errorf("outage %v from %s to %s (open %v), want 0.28 s from +200 ms to +480 ms", deref(rep.ReadOutageS), rep.OutageFrom, rep.OutageTo, rep.OutageOpen)
	}

	// Reads still failing at the end: the window runs from the first of
	// them to the end of the last read, and read_outage_s is not measured.
	reads = append(reads, read{Start: ms(500), End: ms(505), Seen: -1}, read{Start: ms(490), End: ms(600), Seen: -1})
	rep = assess(begin, reads, false, nil)
	if !rep.OutageOpen || rep.ReadOutageS != nil || !rep.OutageFrom.Equal(begin.Add(ms(490))) || !rep.OutageTo.Equal(begin.Add(ms(600))) {
		t.Errorf("open outage %v from %s to %s (open %v), want from +490 ms to +600 ms, open", deref(rep.ReadOutageS), rep.OutageFrom, rep.OutageTo, rep.OutageOpen)
	}
	if got, want := rep.Buckets.Failed, []int{0, 2, 0, 0, 1, 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("failed reads per bucket %v, want %v", got, want)
	}

	// No read failed: no window.
	rep = assess(begin, reads[:1], false, nil)
	if !rep.OutageFrom.IsZero() || !rep.OutageTo.IsZero() || rep.OutageOpen {
		t.Errorf("an outage window without a failed read: %s..%s", rep.OutageFrom, rep.OutageTo)
	}
}
