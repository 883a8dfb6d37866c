package clusterview

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 2, 1, 16, 30, 45, 0, time.UTC)

// snap builds a snapshot at t0+sec: leader "" with known=true means no
// leader; members are name → online.
type snapSpec struct {
	sec       int
	unknown   bool // GET /cluster did not answer
	leader    string
	timeline  int64 // 0: unknown
	primaries []string
	members   []MemberView
}

func snap(sp snapSpec) Snapshot {
	s := Snapshot{Time: t0.Add(time.Duration(sp.sec) * time.Second), ClusterKnown: !sp.unknown, Leader: sp.leader, Primaries: sp.primaries, Members: sp.members}
	if sp.unknown {
		s.Leader = ""
	}
	if sp.timeline != 0 {
		s.Timeline = ptr(sp.timeline)
	}
	return s
}

func on(name string) MemberView { return MemberView{Name: name, Online: true} }
func off(name, reason string) MemberView {
	return MemberView{Name: name, Reason: reason}
}
func lagged(m MemberView, bytes int64) MemberView {
	m.Lag = newLag(bytes, LagFromReplication)
	return m
}

// kinds renders events as "kind member from>to" for compact comparison.
func kinds(events []Event) []string {
	out := []string{}
	for _, e := range events {
		parts := []string{e.Kind}
		if e.Member != "" {
			parts = append(parts, e.Member)
		}
		out = append(out, strings.Join(append(parts, e.From+">"+e.To), " "))
	}
	return out
}

func TestDiff(t *testing.T) {
	t.Parallel()
	three := []MemberView{on("a"), on("b"), on("c")}
	tests := []struct {
		name      string
		prev, cur Snapshot
		want      []string
		message   string // of the first event, when set
	}{
		{
			name: "nothing changed",
			prev: snap(snapSpec{leader: "a", timeline: 1, primaries: []string{"a"}, members: three}),
			cur:  snap(snapSpec{sec: 2, leader: "a", timeline: 1, primaries: []string{"a"}, members: three}),
			want: []string{},
		},
		{
			name:    "leader changed",
			prev:    snap(snapSpec{leader: "a", members: three}),
			cur:     snap(snapSpec{sec: 2, leader: "b", members: three}),
			want:    []string{"leader_changed a>b"},
			message: "leader changed a → b",
		},
		{
			name:    "leader lost",
			prev:    snap(snapSpec{leader: "a", members: three}),
			cur:     snap(snapSpec{sec: 2, leader: "", members: three}),
			want:    []string{"leader_changed a>"},
			message: "no leader (was a)",
		},
		{
			name:    "leader elected",
			prev:    snap(snapSpec{leader: "", members: three}),
			cur:     snap(snapSpec{sec: 2, leader: "c", members: three}),
			want:    []string{"leader_changed >c"},
			message: "leader elected: c",
		},
		{
			name: "cluster unknown now: no leader event",
			prev: snap(snapSpec{leader: "a", members: three}),
			cur:  snap(snapSpec{sec: 2, unknown: true, members: three}),
			want: []string{},
		},
		{
			name: "cluster unknown before: no leader event",
			prev: snap(snapSpec{unknown: true, members: three}),
			cur:  snap(snapSpec{sec: 2, leader: "a", members: three}),
			want: []string{},
		},
		{
			name:    "member went offline",
			prev:    snap(snapSpec{leader: "a", members: three}),
			cur:     snap(snapSpec{sec: 2, leader: "a", members: []MemberView{on("a"), off("b", "container exited (0)"), on("c")}}),
			want:    []string{"member_offline b >container exited (0)"},
			message: "b went OFFLINE: container exited (0)",
		},
		{
			name:    "member came back",
			prev:    snap(snapSpec{leader: "a", members: []MemberView{on("a"), off("b", "REST: connection refused"), on("c")}}),
			cur:     snap(snapSpec{sec: 2, leader: "a", members: three}),
			want:    []string{"member_online b REST: connection refused>"},
			message: "b came back ONLINE",
		},
		{
			name: "member new in cur: no online/offline event",
			prev: snap(snapSpec{leader: "a", members: []MemberView{on("a")}}),
			cur:  snap(snapSpec{sec: 2, leader: "a", members: []MemberView{on("a"), off("b", "x")}}),
			want: []string{},
		},
		{
			name:    "timeline changed",
			prev:    snap(snapSpec{leader: "a", timeline: 1, members: three}),
			cur:     snap(snapSpec{sec: 2, leader: "a", timeline: 2, members: three}),
			want:    []string{"timeline_changed 1>2"},
			message: "timeline changed 1 → 2",
		},
		{
			name: "timeline unknown: no event",
			prev: snap(snapSpec{leader: "a", timeline: 1, members: three}),
			cur:  snap(snapSpec{sec: 2, leader: "a", members: three}),
			want: []string{},
		},
		{
			name:    "lag crossed the threshold upwards",
			prev:    snap(snapSpec{leader: "a", members: []MemberView{on("a"), lagged(on("b"), 1<<20-1)}}),
			cur:     snap(snapSpec{sec: 2, leader: "a", members: []MemberView{on("a"), lagged(on("b"), 1<<20)}}),
			want:    []string{"lag_above b >1048576 B (1.00 MB)"},
			message: "b lag 1048576 B (1.00 MB), at or above 1048576 B (1.00 MB) (pg_stat_replication)",
		},
		{
			name:    "lag back under the threshold",
			prev:    snap(snapSpec{leader: "a", members: []MemberView{on("a"), lagged(on("b"), 3<<20)}}),
			cur:     snap(snapSpec{sec: 2, leader: "a", members: []MemberView{on("a"), lagged(on("b"), 0)}}),
			want:    []string{"lag_below b 3145728 B (3.00 MB)>0 B"},
			message: "b lag back under 1048576 B (1.00 MB): 0 B (pg_stat_replication)",
		},
		{
			name: "lag stays above: one event only at the crossing",
			prev: snap(snapSpec{leader: "a", members: []MemberView{on("a"), lagged(on("b"), 2<<20)}}),
			cur:  snap(snapSpec{sec: 2, leader: "a", members: []MemberView{on("a"), lagged(on("b"), 5<<20)}}),
			want: []string{},
		},
		{
			name: "lag unknown now: no event",
			prev: snap(snapSpec{leader: "a", members: []MemberView{on("a"), lagged(on("b"), 2<<20)}}),
			cur:  snap(snapSpec{sec: 2, leader: "a", members: []MemberView{on("a"), on("b")}}),
			want: []string{},
		},
		{
			name:    "two primaries seen",
			prev:    snap(snapSpec{leader: "a", primaries: []string{"a"}, members: three}),
			cur:     snap(snapSpec{sec: 2, leader: "b", primaries: []string{"a", "b"}, members: three}),
			want:    []string{"leader_changed a>b", "split_brain >a, b"},
			message: "leader changed a → b",
		},
		{
			name:    "split brain over",
			prev:    snap(snapSpec{leader: "b", primaries: []string{"a", "b"}, members: three}),
			cur:     snap(snapSpec{sec: 2, leader: "b", primaries: []string{"b"}, members: three}),
			want:    []string{"split_brain_over a, b>b"},
			message: "one primary again: b",
		},
		{
			name: "split brain goes on: no new event",
			prev: snap(snapSpec{leader: "b", primaries: []string{"a", "b"}, members: three}),
			cur:  snap(snapSpec{sec: 2, leader: "b", primaries: []string{"b", "a"}, members: three}),
			want: []string{},
		},
		{
			name: "first snapshot: only what is alarming",
			prev: Snapshot{},
			cur: snap(snapSpec{leader: "a", timeline: 3, primaries: []string{"a", "c"}, members: []MemberView{
				on("a"), off("b", "container paused"), lagged(on("c"), 2<<20), lagged(on("d"), 10)}}),
			want:    []string{"split_brain >a, c", "member_offline b >container paused", "lag_above c >2097152 B (2.00 MB)"},
			message: "2 primaries: a, c answer pg_is_in_recovery() = false",
		},
		{
			name: "several changes in a fixed order",
			prev: snap(snapSpec{leader: "a", timeline: 1, primaries: []string{"a"}, members: []MemberView{on("a"), lagged(on("b"), 0), lagged(on("c"), 0)}}),
			cur: snap(snapSpec{sec: 2, leader: "b", timeline: 2, primaries: []string{"b"}, members: []MemberView{
				off("a", "SQL: no answer within 1s"), on("b"), lagged(on("c"), 4<<20)}}),
			want: []string{"leader_changed a>b", "timeline_changed 1>2", "member_offline a >SQL: no answer within 1s", "lag_above c >4194304 B (4.00 MB)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.prev, tt.cur, DiffOptions{})
			if k := kinds(got); !reflect.DeepEqual(k, tt.want) {
				t.Fatalf("events:\n got %q\nwant %q", k, tt.want)
			}
			for _, e := range got {
				if !e.Time.Equal(tt.cur.Time) {
					t.Errorf("event %s stamped %v, want the snapshot's time %v", e.Kind, e.Time, tt.cur.Time)
				}
			}
			if tt.message != "" && got[0].Message != tt.message {
				t.Errorf("message:\n got %q\nwant %q", got[0].Message, tt.message)
			}
		})
	}
}

func TestDiffLagThresholdOption(t *testing.T) {
	t.Parallel()
	prev := snap(snapSpec{leader: "a", members: []MemberView{lagged(on("b"), 100)}})
	cur := snap(snapSpec{sec: 2, leader: "a", members: []MemberView{lagged(on("b"), 5000)}})
	if got := kinds(Diff(prev, cur, DiffOptions{LagThreshold: 4096})); !reflect.DeepEqual(got, []string{"lag_above b >5000 B (0.00 MB)"}) {
		t.Fatalf("with a 4 KiB threshold: %q", got)
	}
	if got := Diff(prev, cur, DiffOptions{}); len(got) != 0 {
		t.Fatalf("with the default 1 MiB threshold: %q", kinds(got))
	}
}

// TestTracker checks that facts a snapshot could not learn are carried
// over, so a change is reported once, when it is known again.
func TestTracker(t *testing.T) {
	t.Parallel()
	promoted := t0.Add(-time.Hour)
	steps := []struct {
		s    Snapshot
		want []string
	}{
		{snap(snapSpec{leader: "a", timeline: 1, primaries: []string{"a"}, members: []MemberView{on("a"), lagged(on("b"), 0)}}), []string{}},
		// The leader freezes: GET /cluster unanswered, its SQL too, b's lag unknown.
		{snap(snapSpec{sec: 2, unknown: true, members: []MemberView{off("a", "container paused"), on("b")}}), []string{"member_offline a >container paused"}},
		{snap(snapSpec{sec: 4, unknown: true, members: []MemberView{off("a", "container paused"), on("b")}}), []string{}},
		// b is promoted: known again, the change is reported against the last known leader.
		{snap(snapSpec{sec: 6, leader: "b", timeline: 2, primaries: []string{"b"}, members: []MemberView{off("a", "container paused"), on("b")}}),
			[]string{"leader_changed a>b", "timeline_changed 1>2"}},
		// a's lag was unknown while OFFLINE; known again and big.
		{snap(snapSpec{sec: 8, leader: "b", timeline: 2, primaries: []string{"b"}, members: []MemberView{lagged(on("a"), 8<<20), on("b")}}),
			[]string{"member_online a container paused>", "lag_above a >8388608 B (8.00 MB)"}},
	}
	tr := NewTracker(DiffOptions{})
	if !tr.LastLeaderChange().IsZero() {
		t.Fatal("a new tracker knows a leader change")
	}
	for i, st := range steps {
		if i == 0 {
			st.s.LastPromotion = &Promotion{Time: &promoted, Leader: "a", Timeline: 1}
		}
		if got := kinds(tr.Observe(st.s)); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("snapshot %d: events %q, want %q", i, got, st.want)
		}
		if i == 0 && !tr.LastLeaderChange().Equal(promoted) {
			t.Fatalf("after the first snapshot the last leader change is %v, want Patroni's last promotion %v", tr.LastLeaderChange(), promoted)
		}
	}
	if want := t0.Add(6 * time.Second); !tr.LastLeaderChange().Equal(want) {
		t.Fatalf("last leader change %v, want %v (the snapshot that showed b)", tr.LastLeaderChange(), want)
	}
	if k := tr.Known(); k.Leader != "b" || len(k.Members) != 2 {
		t.Fatalf("known view: leader %q, %d members", k.Leader, len(k.Members))
	}
}

// TestTrackerUnresponsive: a member whose probes only ran out of time is
// reported OFFLINE at its second such snapshot in a row; one slow answer
// raises no event. A refused probe is reported at once.
func TestTrackerUnresponsive(t *testing.T) {
	t.Parallel()
	slow := func(name string) MemberView {
		m := off(name, "SQL: no answer within 1s")
		m.Unresponsive = true
		return m
	}
	steps := []struct {
		members []MemberView
		want    []string
	}{
		{[]MemberView{on("a"), on("b")}, []string{}},
		{[]MemberView{on("a"), slow("b")}, []string{}},
		{[]MemberView{on("a"), on("b")}, []string{}},
		{[]MemberView{on("a"), slow("b")}, []string{}},
		{[]MemberView{on("a"), slow("b")}, []string{"member_offline b >SQL: no answer within 1s"}},
		{[]MemberView{on("a"), slow("b")}, []string{}},
		{[]MemberView{on("a"), on("b")}, []string{"member_online b SQL: no answer within 1s>"}},
		{[]MemberView{off("a", "SQL: connection refused"), on("b")}, []string{"member_offline a >SQL: connection refused"}},
	}
	tr := NewTracker(DiffOptions{})
	for i, st := range steps {
		if got := kinds(tr.Observe(snap(snapSpec{sec: 2 * i, leader: "a", members: st.members}))); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("snapshot %d: events %q, want %q", i, got, st.want)
		}
	}
}

// TestTrackerLeaderGap: an election after a time without a leader names
// the last leader.
func TestTrackerLeaderGap(t *testing.T) {
	t.Parallel()
	three := []MemberView{on("a"), on("b"), on("c")}
	tr := NewTracker(DiffOptions{})
	var got []string
	for _, sp := range []snapSpec{
		{sec: 0, leader: "a"}, {sec: 1, leader: ""}, {sec: 2, unknown: true}, {sec: 3, leader: "b"},
		{sec: 4, leader: ""}, {sec: 6, leader: "b"},
	} {
		sp.members = three
		for _, e := range tr.Observe(snap(sp)) {
			got = append(got, e.From+">"+e.To+": "+e.Message)
		}
	}
	want := []string{
		"a>: no leader (was a)",
		"a>b: leader changed a → b, after 2s without one",
		"b>: no leader (was b)",
		"b>b: b is the leader again, after 2s without one",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if at := tr.LastLeaderChange(); !at.Equal(t0.Add(6 * time.Second)) {
		t.Errorf("last leader change at %v", at)
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 1: "1 B (0.00 MB)", 524288: "524288 B (0.50 MB)", 3 << 20: "3145728 B (3.00 MB)"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
