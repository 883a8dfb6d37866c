package timeline

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestBucket(t *testing.T) {
	t.Parallel()
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	w := Bucket("w", t0, 100*time.Millisecond,
		[]time.Time{ms(-5), ms(10), ms(99), ms(100), ms(250), ms(420)},
		[]Outcome{Acknowledged, Acknowledged, Failed, Indeterminate, Acknowledged, Failed})
	want := Writes{Writer: "w", Start: t0, BucketMS: 100,
		Acknowledged: []int{2, 0, 1, 0, 0}, Failed: []int{1, 0, 0, 0, 1}, Indeterminate: []int{0, 1, 0, 0, 0}}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("Bucket:\n got %+v\nwant %+v", w, want)
	}
	if empty := Bucket("w", t0, 100*time.Millisecond, nil, nil); len(empty.Acknowledged) != 0 {
		t.Errorf("no writes gave %d buckets", len(empty.Acknowledged))
	}
}

func TestRoleSampleEqual(t *testing.T) {
	t.Parallel()
	one, two := int64(1), int64(2)
	a := RoleSample{At: t0, Members: []MemberRole{{Name: "pg1", Role: "leader", State: "running", Timeline: &one}}}
	b := RoleSample{At: t0.Add(time.Second), Members: []MemberRole{{Name: "pg1", Role: "leader", State: "running", Timeline: &one}}}
	if !a.Equal(b) {
		t.Error("samples that differ only in time are not equal")
	}
	b.Members[0].Timeline = &two
	if a.Equal(b) {
		t.Error("a new timeline is not a change")
	}
	if a.Equal(RoleSample{Error: "no answer"}) {
		t.Error("a failed sample equals an answer")
	}
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	var nilRec *Recorder
	nilRec.AddWrites(Writes{}) // drops it
	if nilRec.Timeline() != nil {
		t.Error("a nil recorder has a timeline")
	}
	r := &Recorder{}
	if r.Timeline() != nil {
		t.Error("an empty recorder gives a timeline: readers would show empty series as measured")
	}
	r.AddLag(LagSeries{Watcher: "lag"})
	r.AddWatch(Watch{Watcher: "sb"})
	if tl := r.Timeline(); tl == nil || len(tl.Lag) != 1 || len(tl.Watches) != 1 || tl.Roles != nil || tl.Reads != nil {
		t.Errorf("timeline %+v", tl)
	}
	reads := &Recorder{}
	reads.AddReads(Reads{Reader: "r", OK: []int{3}, Failed: []int{0}})
	if tl := reads.Timeline(); tl == nil || len(tl.Reads) != 1 || tl.Reads[0].Reader != "r" || tl.Writes != nil {
		t.Errorf("a recorder given only a reader's buckets: %+v", tl)
	}
}
