package clusterview

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kinds of events.
const (
	EventLeaderChanged   = "leader_changed"   // From → To; either may be "" (no leader)
	EventMemberOffline   = "member_offline"   // Member went OFFLINE; To is the reason
	EventMemberOnline    = "member_online"    // Member came back
	EventTimelineChanged = "timeline_changed" // From → To
	EventLagAbove        = "lag_above"        // Member's lag rose to the threshold or above
	EventLagBelow        = "lag_below"        // Member's lag fell back under the threshold
	EventSplitBrain      = "split_brain"      // two or more members answered pg_is_in_recovery() = false
	EventSplitBrainOver  = "split_brain_over" // one primary (or none) again
)

// DefaultLagThreshold is the lag the lag events compare with: 1 MiB, the
// seed's "replication lag < 1MB" target and the test bed's
// maximum_lag_on_failover.
const DefaultLagThreshold = 1 << 20

// Event is one change between two snapshots.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Member  string    `json:"member,omitempty"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	Message string    `json:"message"`
}

// DiffOptions tune Diff.
type DiffOptions struct {
	// LagThreshold in bytes (default DefaultLagThreshold).
	LagThreshold int64
}

// Diff returns the events that lead from prev to cur, stamped with cur's
// time, in a fixed order: leader, timeline, split brain, then each member
// by name (offline/online, lag). A fact that either snapshot does not know
// (no GET /cluster answer, an unknown timeline, a member absent from one of
// them, a lag unknown now) yields no event, except that a lag at or above
// the threshold is reported when no lag above it was known before (a former
// leader rejoining far behind). With a zero prev (no earlier snapshot) only
// the alarming state of cur is reported: members OFFLINE, lag at or above
// the threshold, several primaries.
func Diff(prev, cur Snapshot, opts DiffOptions) []Event {
	threshold := opts.LagThreshold
	if threshold <= 0 {
		threshold = DefaultLagThreshold
	}
	first := prev.Time.IsZero()
	var out []Event
	add := func(kind, member, from, to, format string, args ...any) {
		out = append(out, Event{Time: cur.Time, Kind: kind, Member: member, From: from, To: to, Message: fmt.Sprintf(format, args...)})
	}

	if !first && prev.ClusterKnown && cur.ClusterKnown && prev.Leader != cur.Leader {
		switch {
		case prev.Leader == "":
			add(EventLeaderChanged, "", "", cur.Leader, "leader elected: %s", cur.Leader)
		case cur.Leader == "":
			add(EventLeaderChanged, "", prev.Leader, "", "no leader (was %s)", prev.Leader)
		default:
			add(EventLeaderChanged, "", prev.Leader, cur.Leader, "leader changed %s → %s", prev.Leader, cur.Leader)
		}
	}
	if !first && prev.Timeline != nil && cur.Timeline != nil && *prev.Timeline != *cur.Timeline {
		from, to := fmt.Sprint(*prev.Timeline), fmt.Sprint(*cur.Timeline)
		add(EventTimelineChanged, "", from, to, "timeline changed %s → %s", from, to)
	}
	if split := len(cur.Primaries) > 1; split && (first || len(prev.Primaries) <= 1) {
		list := strings.Join(cur.Primaries, ", ")
		add(EventSplitBrain, "", "", list, "%d primaries: %s answer pg_is_in_recovery() = false", len(cur.Primaries), list)
	} else if !split && !first && len(prev.Primaries) > 1 {
		add(EventSplitBrainOver, "", strings.Join(prev.Primaries, ", "), strings.Join(cur.Primaries, ", "),
			"one primary again: %s", orNone(strings.Join(cur.Primaries, ", ")))
	}

	for _, m := range cur.Members {
		p, seen := prev.Member(m.Name)
		switch {
		case first:
			if !m.Online {
				add(EventMemberOffline, m.Name, "", m.Reason, "%s is OFFLINE: %s", m.Name, m.Reason)
			}
		case !seen:
		case p.Online && !m.Online:
			add(EventMemberOffline, m.Name, "", m.Reason, "%s went OFFLINE: %s", m.Name, m.Reason)
		case !p.Online && m.Online:
			add(EventMemberOnline, m.Name, p.Reason, "", "%s came back ONLINE", m.Name)
		}
		if m.Lag == nil {
			continue
		}
		above := m.Lag.Bytes >= threshold
		wasAbove := seen && p.Lag != nil && p.Lag.Bytes >= threshold
		switch {
		case above && !wasAbove:
			add(EventLagAbove, m.Name, "", FormatBytes(m.Lag.Bytes), "%s lag %s, at or above %s (%s)", m.Name, FormatBytes(m.Lag.Bytes), FormatBytes(threshold), m.Lag.Source)
		case !above && wasAbove:
			add(EventLagBelow, m.Name, FormatBytes(p.Lag.Bytes), FormatBytes(m.Lag.Bytes), "%s lag back under %s: %s (%s)", m.Name, FormatBytes(threshold), FormatBytes(m.Lag.Bytes), m.Lag.Source)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// FormatBytes writes a byte count with its MiB figure: "0 B",
// "524288 B (0.50 MB)", "3145728 B (3.00 MB)".
func FormatBytes(n int64) string {
	if n == 0 {
		return "0 B"
	}
	return fmt.Sprintf("%d B (%.2f MB)", n, float64(n)/MiB)
}

// Tracker turns a stream of snapshots into events. It remembers the last
// known value of each fact, so that a snapshot that could not learn
// something (GET /cluster unanswered, a member's lag unknown while it is
// OFFLINE) neither raises nor hides an event: the change is reported when
// the fact is known again.
//
// A member goes OFFLINE in the events at once when something refused or
// closed its probes or its container is not running, but only at the
// second snapshot in a row when its probes merely ran out of time
// (MemberView.Unresponsive): on a loaded machine one slow answer is not an
// outage. Snapshots themselves always show what was observed.
//
// A leader elected after a time without one is reported as the change from
// the last leader: "leader changed A → B, after 1.2s without one". The zero
// value is not usable; use NewTracker.
type Tracker struct {
	opts  DiffOptions
	known Snapshot
	// leaderSince is when the leader last changed, as seen by this tracker
	// (the snapshot that first showed it).
	leaderSince time.Time
	// slow holds the members whose last snapshot was their first
	// unresponsive one after being online.
	slow map[string]bool
	// lastLeader lost the leader key at leaderLost, and no one has held
	// it since.
	lastLeader string
	leaderLost time.Time
}

// NewTracker returns a Tracker that has seen nothing yet.
func NewTracker(opts DiffOptions) *Tracker { return &Tracker{opts: opts, slow: map[string]bool{}} }

// Observe merges s into what the tracker knows and returns the events
// since the previous snapshot (for the first one, see Diff with a zero prev).
func (t *Tracker) Observe(s Snapshot) []Event {
	next := merge(t.known, s)
	for i, m := range next.Members {
		prev, seen := t.known.Member(m.Name)
		wasSlow := t.slow[m.Name]
		t.slow[m.Name] = false
		if m.Unresponsive && seen && prev.Online && !wasSlow {
			// First time out of time: wait for the next snapshot.
			t.slow[m.Name] = true
			next.Members[i] = prev
		}
	}
	events := Diff(t.known, next, t.opts)
	for i, e := range events {
		if e.Kind != EventLeaderChanged {
			continue
		}
		t.leaderSince = e.Time
		switch {
		case e.To == "":
			t.lastLeader, t.leaderLost = e.From, e.Time
		case e.From == "" && t.lastLeader != "":
			// An election after a time without a leader: name both ends.
			gap := e.Time.Sub(t.leaderLost).Round(100 * time.Millisecond)
			if t.lastLeader == e.To {
				events[i].Message = fmt.Sprintf("%s is the leader again, after %s without one", e.To, gap)
			} else {
				events[i].Message = fmt.Sprintf("leader changed %s → %s, after %s without one", t.lastLeader, e.To, gap)
			}
			events[i].From, t.lastLeader = t.lastLeader, ""
		}
	}
	t.known = next
	return events
}

// LastLeaderChange returns when the leader last changed: the newest of the
// change this tracker saw and the last promotion in Patroni's history.
// The zero time means neither is known.
func (t *Tracker) LastLeaderChange() time.Time {
	at := t.leaderSince
	if p := t.known.LastPromotion; p != nil && p.Time != nil && p.Time.After(at) {
		at = *p.Time
	}
	return at
}

// Known returns the tracker's merged view: the last snapshot with every
// fact it lacked filled in from earlier ones.
func (t *Tracker) Known() Snapshot { return t.known }

// merge returns cur with the facts it does not know taken from known.
func merge(known, cur Snapshot) Snapshot {
	if known.Time.IsZero() {
		return cur
	}
	out := cur
	if !cur.ClusterKnown && known.ClusterKnown {
		out.ClusterKnown, out.Leader, out.Listed = true, known.Leader, known.Listed
	}
	if out.Timeline == nil {
		out.Timeline = known.Timeline
	}
	if out.LastPromotion == nil {
		out.LastPromotion = known.LastPromotion
	}
	out.Members = slices.Clone(cur.Members)
	for i, m := range out.Members {
		if p, ok := known.Member(m.Name); ok && m.Lag == nil {
			out.Members[i].Lag = p.Lag
		}
	}
	for _, p := range known.Members {
		if _, ok := cur.Member(p.Name); !ok {
			out.Members = append(out.Members, p)
		}
	}
	slices.SortFunc(out.Members, func(a, b MemberView) int { return strings.Compare(a.Name, b.Name) })
	return out
}
