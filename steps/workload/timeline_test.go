package workload

import (
	"reflect"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/pg"
	"github.com/drill-dev/drill/internal/timeline"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// TestWriteBuckets: a writer's attempts are counted per 100 ms by the time
// each ended, from the start of the first.
func TestWriteBuckets(t *testing.T) {
	t.Parallel()
	as := []pg.Attempt{
		{Seq: 1, Start: at(0), End: at(20), Outcome: pg.Acknowledged},
		{Seq: 2, Start: at(40), End: at(60), Outcome: pg.Acknowledged},
		{Seq: 3, Start: at(80), End: at(2080), Outcome: pg.Indeterminate},
		{Seq: 4, Start: at(2180), End: at(2190), Outcome: pg.Failed},
		{Seq: 5, Start: at(2290), End: at(2310), Outcome: pg.Acknowledged},
	}
	w := writeBuckets("writer", "writes", as)
	if w.Writer != "writer" || w.Step != "writes" || !w.Start.Equal(at(0)) || w.BucketMS != 100 || len(w.Acknowledged) != 24 {
		t.Fatalf("writes %+v", w)
	}
	if w.Acknowledged[0] != 2 || w.Indeterminate[20] != 1 || w.Failed[21] != 1 || w.Acknowledged[23] != 1 {
		t.Errorf("buckets: ack %v, failed %v, indeterminate %v", w.Acknowledged, w.Failed, w.Indeterminate)
	}
	if empty := writeBuckets("writer", "", nil); len(empty.Acknowledged) != 0 || empty.BucketMS != 100 {
		t.Errorf("no attempts: %+v", empty)
	}
}

// TestReadsOf: a reader's report goes on the timeline with its buckets,
// where it read, and its longest outage only when a read failed.
func TestReadsOf(t *testing.T) {
	t.Parallel()
	rep := pg.ReaderReport{Buckets: pg.ReadBuckets{Start: at(5), Width: pg.BucketWidth, OK: []int{4, 0, 2}, Failed: []int{0, 3, 0}},
		OutageFrom: at(110), OutageTo: at(260), OutageOpen: true}
	got := readsOf("r", "replica_route", "stop", rep)
	want := timeline.Reads{Reader: "r", Step: "stop", On: "replica_route", Start: at(5), BucketMS: 100, OK: []int{4, 0, 2}, Failed: []int{0, 3, 0},
		Outage: &timeline.Outage{Start: at(110), End: at(260), Open: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readsOf:\n got %+v\nwant %+v", got, want)
	}
	rep.OutageFrom, rep.OutageTo, rep.OutageOpen = time.Time{}, time.Time{}, false
	if got := readsOf("r", "pooled", "", rep); got.Outage != nil {
		t.Errorf("an outage on the timeline of a reader no read of which failed: %+v", got.Outage)
	}
	if empty := readsOf("r", "pooled", "", pg.ReaderReport{}); len(empty.OK) != 0 || empty.BucketMS != 100 {
		t.Errorf("no reads: %+v", empty)
	}
}

// TestWatchSpans: each member's probes become spans of one state, each
// running to the next observation of that member, the last to the end.
func TestWatchSpans(t *testing.T) {
	t.Parallel()
	obs := []pg.Observation{
		{Member: "a", End: at(0), State: pg.StatePrimary},
		{Member: "b", End: at(10), State: pg.StateReadOnly},
		{Member: "a", End: at(100), State: pg.StatePrimary},
		{Member: "a", End: at(200), State: pg.StateUnknown},
		{Member: "b", End: at(210), State: pg.StatePrimary},
		{Member: "a", End: at(300), State: pg.StatePrimary},
	}
	rep := pg.Analyze(at(0), at(400), obs)
	w := watchSpans("split_brain", "watch", 100*time.Millisecond, rep)
	want := []timeline.Span{
		{Start: at(0), End: at(200), State: "primary", Members: []string{"a"}},
		{Start: at(10), End: at(210), State: "read_only", Members: []string{"b"}},
		{Start: at(200), End: at(300), State: "unknown", Members: []string{"a"}},
		{Start: at(210), End: at(400), State: "primary", Members: []string{"b"}},
		{Start: at(300), End: at(400), State: "primary", Members: []string{"a"}},
	}
	if !reflect.DeepEqual(w.States, want) {
		t.Errorf("states:\n got %+v\nwant %+v", w.States, want)
	}
	if len(w.Overlaps) != 1 || !w.Overlaps[0].Start.Equal(at(300)) || !reflect.DeepEqual(w.Overlaps[0].Members, []string{"a", "b"}) {
		t.Errorf("overlaps %+v", w.Overlaps)
	}
	if w.IntervalMS != 100 || w.Watcher != "split_brain" || w.Step != "watch" {
		t.Errorf("watch %+v", w)
	}
}
