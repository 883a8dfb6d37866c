package clusterview

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/client/pg"
)

// runningStates are Patroni states of a member whose PostgreSQL serves.
var runningStates = map[string]bool{"running": true, "streaming": true}

// assemble fills s.Members and the cluster-wide fields from what the two
// phases of a snapshot learnt.
func (v *Viewer) assemble(s *Snapshot, results []probeResult, cl *patroni.Cluster, lag *pg.LagReport, lagFrom string, lagErr error, extraNames []string) {
	byName := map[string]*memberWork{}
	var order []string
	get := func(name string) *memberWork {
		if m, ok := byName[name]; ok {
			return m
		}
		m := &memberWork{MemberView: MemberView{Name: name, Probed: []string{}}}
		byName[name] = m
		order = append(order, name)
		return m
	}
	for i, t := range v.targets {
		v.fillProbes(get(t.Name), t, results[i])
	}
	if cl != nil {
		s.ClusterKnown = true
		s.Leader = cl.LeaderName()
		s.Listed = len(cl.Members)
		for _, cm := range cl.Members {
			fillListed(get(cm.Name), cm)
		}
	}
	for _, name := range order {
		judge(byName[name], s.ClusterKnown, slices.Contains(extraNames, name))
	}
	fillLag(byName, s.Leader, lag, lagFrom, lagErr)
	markDiverged(byName, s.Leader)

	slices.Sort(order)
	s.Primaries = []string{}
	for _, name := range order {
		m := byName[name]
		s.Members = append(s.Members, m.MemberView)
		if m.Online {
			s.Online++
		}
		if m.InRecovery != nil && !*m.InRecovery {
			s.Primaries = append(s.Primaries, name)
		}
	}
	s.Timeline = clusterTimeline(s.Members)
}

// markDiverged sets Diverged on every member ahead of the leader's
// timeline that is not streaming (see MemberView.Diverged).
func markDiverged(members map[string]*memberWork, leader string) {
	l, ok := members[leader]
	if !ok || l.Timeline == nil {
		return
	}
	for name, m := range members {
		if name != leader && m.Timeline != nil && *m.Timeline > *l.Timeline && m.Replication != "streaming" {
			m.Diverged = true
		}
	}
}

// memberWork is a member being assembled, with what only assembly needs.
type memberWork struct {
	MemberView
	reason     []string // why probes failed, for Reason
	replayLSN  *uint64  // pg's LSN: the current position on a primary, the replay position on a standby
	patroniLag *int64   // the lag GET /cluster reports
}

// fillProbes records a target's direct probes.
func (v *Viewer) fillProbes(m *memberWork, t Target, r probeResult) {
	m.API = t.API
	if t.API != "" {
		m.Probed = append(m.Probed, "rest")
	}
	if t.DSN != "" {
		m.Probed = append(m.Probed, "sql")
	}
	addErr := func(key string, err error) {
		if err == nil {
			return
		}
		if m.Errors == nil {
			m.Errors = map[string]string{}
		}
		m.Errors[key] = err.Error()
	}
	addErr("rest", r.restErr)
	addErr("sql", r.sqlErr)
	addErr("container", r.contErr)
	m.Container = r.container
	if r.rest != nil {
		m.State = r.rest.State
	}
	if r.status != nil {
		m.InRecovery = ptr(r.status.InRecovery)
		m.Connections = ptr(r.status.Connections)
		m.ActiveConnections = ptr(r.status.ActiveConnections)
		m.MaxConnections = ptr(r.status.MaxConnections)
		m.ServerVersion = r.status.Version
	}
	if r.pos != nil {
		m.InRecovery = ptr(r.pos.InRecovery)
	}
	m.Timeline, m.TimelineSource = memberTimeline(r)
	m.reason = reasons(v.cfg.Timeout, r)
	m.Unresponsive = unresponsive(r)
	if r.pos != nil {
		m.replayLSN = r.pos.LSN
	}
}

// reasons lists why the probes of one member failed, shortest cause
// first: the container, then REST, then SQL.
func reasons(timeout time.Duration, r probeResult) []string {
	var out []string
	if r.container != "" && r.container != "running" {
		out = append(out, cmp.Or(r.noun, "container")+" "+r.container)
	}
	if r.restErr != nil {
		out = append(out, "REST: "+Short(r.restErr, timeout))
	}
	if r.sqlErr != nil {
		out = append(out, "SQL: "+Short(r.sqlErr, timeout))
	}
	return out
}

// unresponsive reports whether every probe that failed timed out, nothing
// refused or closed a connection, and the container (if known) runs.
func unresponsive(r probeResult) bool {
	if r.restErr == nil && r.sqlErr == nil {
		return false
	}
	if r.container != "" && r.container != "running" {
		return false
	}
	for _, err := range []error{r.restErr, r.sqlErr} {
		if err != nil && !timedOut(err) {
			return false
		}
	}
	return true
}

// fillListed records what GET /cluster says about a member.
func fillListed(m *memberWork, cm patroni.ClusterMember) {
	m.Listed = true
	m.Role = string(cm.Role)
	if m.State == "" {
		m.State = cm.State
	}
	if m.Timeline == nil && cm.Timeline != nil {
		m.Timeline, m.TimelineSource = cm.Timeline, TimelineFromPatroniCluster
	}
	if cm.Lag.Known {
		m.patroniLag = ptr(cm.Lag.Bytes)
	}
}

// judge decides ONLINE or OFFLINE (see MemberView.Online).
func judge(m *memberWork, clusterKnown, namedByURL bool) {
	switch {
	case len(m.Probed) > 0:
		m.Online = len(m.Errors["rest"]) == 0 && len(m.Errors["sql"]) == 0
		if !m.Online {
			m.Reason = strings.Join(m.reason, "; ")
		} else {
			m.Unresponsive = false
		}
	case m.Listed && runningStates[m.State]:
		m.Online = true
		m.Notes = append(m.Notes, "not probed directly (no REST URL or DSN for it): judged by GET /cluster")
	case m.Listed:
		m.Reason = "Patroni reports it " + cmp.Or(m.State, "without a state")
	case namedByURL:
		m.Online = true
	default:
		m.Reason = "no answer"
	}
	if clusterKnown && !m.Listed {
		m.Notes = append(m.Notes, "not in Patroni's member list (GET /cluster)")
	}
}

// fillLag sets every replica's lag from the most direct source available.
func fillLag(members map[string]*memberWork, leader string, lag *pg.LagReport, lagFrom string, lagErr error) {
	rows := map[string]pg.StandbyLag{}
	if lag != nil {
		for _, sl := range lag.Standbys {
			rows[sl.ApplicationName] = sl
		}
	}
	if lagErr != nil {
		if m, ok := members[lagFrom]; ok {
			if m.Errors == nil {
				m.Errors = map[string]string{}
			}
			m.Errors["lag"] = lagErr.Error()
		}
	}
	var leaderLSN *uint64
	if lm, ok := members[cmp.Or(lagFrom, leader)]; ok && lm.InRecovery != nil && !*lm.InRecovery {
		leaderLSN = lm.replayLSN
	}
	for name, m := range members {
		if name == leader || name == lagFrom || (m.InRecovery != nil && !*m.InRecovery) {
			continue
		}
		if sl, ok := rows[name]; ok {
			m.Replication, m.SyncState = sl.State, sl.SyncState
			if sl.ReplayLagBytes != nil {
				m.Lag = newLag(max(*sl.ReplayLagBytes, 0), LagFromReplication)
				continue
			}
		}
		if leaderLSN != nil && m.replayLSN != nil && m.InRecovery != nil && *m.InRecovery {
			m.Lag = newLag(max(int64(*leaderLSN)-int64(*m.replayLSN), 0), LagFromReplay)
			continue
		}
		if m.patroniLag != nil {
			m.Lag = newLag(*m.patroniLag, LagFromPatroni)
		}
	}
}

// memberTimeline picks the most current of the timelines a member's
// probes saw (see the TimelineFrom constants); nil when none did.
func memberTimeline(r probeResult) (*int64, string) {
	var sqlTL *int64
	var source string
	if r.pos != nil && r.pos.TimelineSource != "" {
		sqlTL, source = ptr(r.pos.Timeline), r.pos.TimelineSource
	}
	switch {
	case sqlTL != nil && source != pg.TimelineFromCheckpoint:
		return sqlTL, timelineFromSQLPrefix + source
	case r.rest != nil && r.rest.Timeline != nil:
		return ptr(*r.rest.Timeline), TimelineFromPatroni
	case sqlTL != nil:
		return sqlTL, timelineFromSQLPrefix + source
	}
	return nil, ""
}

// currentTimeline holds the timeline sources that follow a promotion at
// once: a primary's WAL or Patroni's view of it, a standby's WAL receiver.
var currentTimeline = map[string]bool{
	timelineFromSQLPrefix + pg.TimelineFromWAL:         true,
	timelineFromSQLPrefix + pg.TimelineFromWALReceiver: true,
	TimelineFromPatroni:                                true,
}

// TimelineCurrent reports whether the member's timeline comes from a
// source that follows a promotion at once (see Snapshot.Timeline).
func (m MemberView) TimelineCurrent() bool { return currentTimeline[m.TimelineSource] }

// clusterTimeline is the highest timeline any member is on by a current
// source; nil when none has one (e.g. mid-failover: the old leader gone,
// the new one not yet promoted, the replicas without a WAL receiver and
// only their last restartpoint's timeline, which may be several behind).
func clusterTimeline(members []MemberView) *int64 {
	var best *int64
	for _, m := range members {
		if m.Timeline != nil && m.TimelineCurrent() && (best == nil || *m.Timeline > *best) {
			best = ptr(*m.Timeline)
		}
	}
	return best
}

func ptr[T any](v T) *T { return &v }
