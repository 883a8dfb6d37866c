package clusterview

import (
	"testing"

	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/client/pg"
)

// TestMemberTimeline: the most current source wins; a standby's
// checkpoint timeline (stale until its next restartpoint) yields to
// Patroni's live view.
func TestMemberTimeline(t *testing.T) {
	t.Parallel()
	pos := func(tl int64, src string) *pg.Position { return &pg.Position{Timeline: tl, TimelineSource: src} }
	rest := func(tl int64) *patroni.Status { return &patroni.Status{Timeline: ptr(tl)} }
	tests := []struct {
		name string
		r    probeResult
		tl   int64
		src  string
	}{
		{"primary's WAL", probeResult{pos: pos(4, pg.TimelineFromWAL), rest: rest(3)}, 4, "sql:wal"},
		{"standby's receiver", probeResult{pos: pos(4, pg.TimelineFromWALReceiver), rest: rest(3)}, 4, "sql:wal_receiver"},
		{"checkpoint yields to Patroni", probeResult{pos: pos(2, pg.TimelineFromCheckpoint), rest: rest(3)}, 3, "patroni"},
		{"checkpoint alone", probeResult{pos: pos(2, pg.TimelineFromCheckpoint)}, 2, "sql:checkpoint"},
		{"Patroni alone", probeResult{rest: rest(5)}, 5, "patroni"},
		{"SQL without a source", probeResult{pos: pos(0, "")}, 0, ""},
	}
	for _, tt := range tests {
		tl, src := memberTimeline(tt.r)
		got := int64(0)
		if tl != nil {
			got = *tl
		}
		if got != tt.tl || src != tt.src {
			t.Errorf("%s: timeline %d from %q, want %d from %q", tt.name, got, src, tt.tl, tt.src)
		}
	}
}

// TestClusterTimeline: only current sources count; mid-failover, with
// replicas that only know their last restartpoint's timeline, the cluster's
// timeline is unknown rather than wrong.
func TestClusterTimeline(t *testing.T) {
	t.Parallel()
	m := func(tl int64, src string) MemberView { return MemberView{Timeline: ptr(tl), TimelineSource: src} }
	tests := []struct {
		name    string
		members []MemberView
		want    int64 // 0: unknown
	}{
		{"healthy", []MemberView{m(2, "sql:wal"), m(2, "sql:wal_receiver"), m(2, "sql:wal_receiver")}, 2},
		{"mid-failover", []MemberView{{}, m(1, "sql:checkpoint"), m(1, "sql:checkpoint")}, 0},
		{"promoted", []MemberView{{}, m(3, "sql:wal"), m(1, "sql:checkpoint")}, 3},
		{"Patroni's view of the primary", []MemberView{m(3, "patroni"), m(2, "patroni_cluster")}, 3},
		{"split brain: the highest", []MemberView{m(2, "sql:wal"), m(3, "sql:wal")}, 3},
	}
	for _, tt := range tests {
		got := int64(0)
		if tl := clusterTimeline(tt.members); tl != nil {
			got = *tl
		}
		if got != tt.want {
			t.Errorf("%s: timeline %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestMarkDiverged: a member ahead of the leader's timeline and not
// streaming has diverged; one on the leader's timeline, or streaming, or
// beside a leader whose timeline is unknown, has not.
func TestMarkDiverged(t *testing.T) {
	t.Parallel()
	tl := func(v int64) *int64 { return &v }
	tests := []struct {
		name               string
		leaderTL, memberTL *int64
		replication        string
		want               bool
	}{
		{"ahead, not streaming", tl(4), tl(5), "", true},
		{"ahead, in pg_stat_replication but catching up", tl(4), tl(5), "catchup", true},
		{"ahead but streaming (the leader's timeline is stale)", tl(4), tl(5), "streaming", false},
		{"on the leader's timeline", tl(4), tl(4), "", false},
		{"behind", tl(4), tl(3), "", false},
		{"leader's timeline unknown", nil, tl(5), "", false},
		{"member's timeline unknown", tl(4), nil, "", false},
	}
	for _, tt := range tests {
		members := map[string]*memberWork{
			"l": {MemberView: MemberView{Name: "l", Timeline: tt.leaderTL}},
			"m": {MemberView: MemberView{Name: "m", Timeline: tt.memberTL, Replication: tt.replication}},
		}
		markDiverged(members, "l")
		if got := members["m"].Diverged; got != tt.want || members["l"].Diverged {
			t.Errorf("%s: diverged %v (leader %v), want %v", tt.name, got, members["l"].Diverged, tt.want)
		}
	}
}
