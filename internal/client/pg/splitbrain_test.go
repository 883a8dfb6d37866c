package pg

import (
	"testing"
	"time"
)

func TestSplitBrainWatcherSeesTwoPrimariesAndAResumedOne(t *testing.T) {
	p, r := newPair(t, true)
	old := Node{Name: "old", DSN: p.DSN("")}
	promoted := Node{Name: "promoted", DSN: r.DSN("")}
	w, err := StartSplitBrainWatcher(t.Context(), WatchConfig{Members: []Node{old, promoted}, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			w.Stop(t.Context())
		}
	})
	// Healthy: one primary, one read-only standby.
	time.Sleep(600 * time.Millisecond)
	before := Analyze(w.start, time.Now(), w.Observations())
	if before.MaxPrimaries == nil || *before.MaxPrimaries != 1 || *before.SplitBrainS != 0 {
		t.Fatalf("before promotion: max %v split %v, want 1 and 0", deref(before.MaxPrimaries), deref(before.SplitBrainS))
	}

	// Promote the standby while the old primary still runs: split brain.
	if err := r.Promote(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	// Freeze the old primary as docker pause does, then resume it: it must
	// be unknown while frozen and accept writes again once resumed.
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozeAt := time.Now()
	time.Sleep(time.Second)
	thawedAt := time.Now()
	if err := p.Thaw(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	rep, err := w.Stop(t.Context())
	stopped = true
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxPrimaries == nil || *rep.MaxPrimaries != 2 {
		t.Errorf("max_primaries = %v, want 2", deref(rep.MaxPrimaries))
	}
	if rep.SplitBrainS == nil || *rep.SplitBrainS <= 0 || len(rep.Overlaps) == 0 {
		t.Errorf("split_brain_s = %v overlaps %v, want > 0", deref(rep.SplitBrainS), rep.Overlaps)
	}
	if m := rep.Metrics(); m["max_primaries"] != 2 || m["split_brain_s"] <= 0 {
		t.Errorf("metrics = %v", m)
	}

	var unknownWhileFrozen, primaryAfterThaw bool
	for _, o := range rep.Observations {
		if o.Member != "old" {
			continue
		}
		if o.State == StateUnknown && o.End.After(frozeAt) && o.End.Before(thawedAt) {
			unknownWhileFrozen = true
		}
		if o.State == StatePrimary && o.End.After(thawedAt) && o.InRecovery != nil && !*o.InRecovery {
			primaryAfterThaw = true
		}
	}
	if !unknownWhileFrozen || !primaryAfterThaw {
		t.Errorf("old primary: unknown while frozen %v, primary after thaw %v", unknownWhileFrozen, primaryAfterThaw)
		for _, o := range rep.Observations {
			t.Logf("%s %s..%s %s %s", o.Member, o.Start.Format("15:04:05.000"), o.End.Format("15:04:05.000"), o.State, o.Err)
		}
	}
	t.Logf("split_brain_s %.3f overlaps %d members %+v", *rep.SplitBrainS, len(rep.Overlaps), rep.Members)
}

func TestAnalyze(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	obs := func(m string, ms int, s ProbeState) Observation {
		return Observation{Member: m, Start: at(ms - 5), End: at(ms), State: s}
	}
	r := Analyze(t0, at(1000), []Observation{
		obs("a", 100, StatePrimary), obs("b", 100, StateReadOnly),
		obs("a", 200, StatePrimary), obs("b", 300, StatePrimary), // b promoted at 300
		obs("a", 400, StateUnknown),  // a frozen at 400
		obs("a", 700, StatePrimary),  // a resumed at 700
		obs("a", 800, StateReadOnly), // a demoted at 800
	})
	if r.MaxPrimaries == nil || *r.MaxPrimaries != 2 {
		t.Errorf("max = %v", deref(r.MaxPrimaries))
	}
	if r.SplitBrainS == nil || *r.SplitBrainS < 0.2-1e-9 || *r.SplitBrainS > 0.2+1e-9 {
		t.Errorf("split = %v, want 0.2 (300-400 and 700-800)", deref(r.SplitBrainS))
	}
	if len(r.Overlaps) != 2 || !r.Overlaps[0].Start.Equal(at(300)) || !r.Overlaps[1].End.Equal(at(800)) {
		t.Errorf("overlaps = %+v", r.Overlaps)
	}
	if len(r.Members) != 2 || r.Members[0] != (MemberSummary{Member: "a", Primary: 3, ReadOnly: 1, Unknown: 1}) {
		t.Errorf("members = %+v", r.Members)
	}

	// Nothing definite: unmeasured, not zero.
	r = Analyze(t0, at(1000), []Observation{obs("a", 100, StateUnknown)})
	if r.MaxPrimaries != nil || r.SplitBrainS != nil || len(r.Metrics()) != 0 {
		t.Errorf("all unknown = %+v", r)
	}
}
