package clusterview_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/clusterview"
	"github.com/drill-dev/drill/internal/app/clusterview/cvtest"
	"github.com/drill-dev/drill/internal/client/pg/pgtest"
)

// TestSnapshotSQL runs against real PostgreSQL servers (a primary and a
// streaming replica, with a fake Patroni beside them): lag, timelines,
// connections and recovery state come from SQL; a frozen server is OFFLINE
// within the bound; a promoted replica makes two primaries, which the
// tracker reports as a split brain.
func TestSnapshotSQL(t *testing.T) {
	alpha, beta := pgtest.Pair(t, "alpha", "beta") // beta's application_name is beta
	fake := cvtest.Start(t, "pair", cvtest.Member{Name: "alpha", Role: "leader", Timeline: 1}, cvtest.Member{Name: "beta", Role: "replica", Timeline: 1, Lag: new(int64(0))})
	v := newViewer(t, clusterview.Config{Members: []clusterview.Target{
		{Name: "alpha", API: fake.URL("alpha"), DSN: alpha.DSN("")},
		{Name: "beta", API: fake.URL("beta"), DSN: beta.DSN("")},
	}})
	tracker := clusterview.NewTracker(clusterview.DiffOptions{})

	// The replica's walsender row appears once it has connected.
	var s clusterview.Snapshot
	for deadline := time.Now().Add(30 * time.Second); ; {
		s = timedSnapshot(t, v)
		if l := member(t, s, "beta").Lag; l != nil && l.Source == clusterview.LagFromReplication {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("beta's lag never came from pg_stat_replication: %+v", member(t, s, "beta"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ev := tracker.Observe(s); len(ev) != 0 {
		t.Fatalf("a healthy pair raised events: %+v", ev)
	}
	a, b := member(t, s, "alpha"), member(t, s, "beta")
	if !a.Online || !b.Online || s.Online != 2 {
		t.Fatalf("online: alpha %v (%s), beta %v (%s)", a.Online, a.Reason, b.Online, b.Reason)
	}
	if !slices.Equal(s.Primaries, []string{"alpha"}) {
		t.Errorf("primaries %v", s.Primaries)
	}
	if a.InRecovery == nil || *a.InRecovery || b.InRecovery == nil || !*b.InRecovery {
		t.Errorf("in recovery: alpha %v, beta %v", a.InRecovery, b.InRecovery)
	}
	if a.Timeline == nil || *a.Timeline != 1 || a.TimelineSource != "sql:wal" {
		t.Errorf("alpha timeline %v from %q", a.Timeline, a.TimelineSource)
	}
	if b.Timeline == nil || *b.Timeline != 1 || !strings.HasPrefix(b.TimelineSource, "sql:") {
		t.Errorf("beta timeline %v from %q", b.Timeline, b.TimelineSource)
	}
	if b.Replication != "streaming" || b.SyncState != "async" {
		t.Errorf("beta replication %q sync %q", b.Replication, b.SyncState)
	}
	if a.Connections == nil || *a.Connections < 1 || a.MaxConnections == nil || !strings.HasPrefix(a.ServerVersion, "15") {
		t.Errorf("alpha connections %v of %v, version %q", a.Connections, a.MaxConnections, a.ServerVersion)
	}
	if a.Lag != nil {
		t.Errorf("the leader has a lag: %+v", a.Lag)
	}

	// Frozen like a paused container: OFFLINE within the bound.
	if err := beta.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			if err := beta.Thaw(); err != nil {
				t.Errorf("thaw beta: %v", err)
			}
		}
	}
	t.Cleanup(thaw)
	// It only ran out of time: the tracker waits for a second snapshot.
	s = timedSnapshot(t, v)
	wantOffline(t, member(t, s, "beta"), "SQL: no answer within 1s")
	if !member(t, s, "beta").Unresponsive {
		t.Errorf("frozen beta is not marked unresponsive: %+v", member(t, s, "beta"))
	}
	if ev := tracker.Observe(s); len(ev) != 0 {
		t.Errorf("events after the first snapshot of the freeze: %+v", ev)
	}
	s = timedSnapshot(t, v)
	if ev := tracker.Observe(s); len(ev) != 1 || ev[0].Kind != clusterview.EventMemberOffline || ev[0].Member != "beta" {
		t.Errorf("events after the second snapshot of the freeze: %+v", ev)
	}
	thaw()

	// Promote the replica while the old primary runs: two primaries.
	if err := beta.Promote(t.Context()); err != nil {
		t.Fatal(err)
	}
	s = timedSnapshot(t, v)
	if !slices.Equal(s.Primaries, []string{"alpha", "beta"}) {
		t.Fatalf("primaries %v after the promotion", s.Primaries)
	}
	if b := member(t, s, "beta"); b.Timeline == nil || *b.Timeline != 2 || b.Lag != nil {
		t.Errorf("promoted beta: timeline %v, lag %+v", b.Timeline, b.Lag)
	}
	ev := tracker.Observe(s)
	var got []string
	for _, e := range ev {
		got = append(got, e.Kind)
	}
	if !slices.Contains(got, clusterview.EventSplitBrain) || !slices.Contains(got, clusterview.EventMemberOnline) {
		t.Errorf("events after the promotion: %v", got)
	}
}
