// Package timeline holds the series a scenario records for its timeline,
// which the HTML report draws on one time axis: the members' roles as
// Patroni reported them, sampled at a stated interval; each writer's
// acknowledged, failed and indeterminate writes per bucket; each reader's
// successful and failed reads per bucket and its longest outage; the
// split-brain watcher's view of each member and the windows in which more
// than one accepted writes; replication lag samples.
//
// It is plain data kept in the JSON journal (report.Scenario.Timeline).
// Every field is optional: a journal written before a series existed, or a
// scenario that did not record it, reads back without it, and a reader
// must show "not recorded", never a zero. The Recorder collects the series
// while a scenario runs; it is safe for concurrent use and a nil Recorder
// drops everything (steps run outside the runner in tests).
package timeline

import (
	"slices"
	"sync"
	"time"
)

// Timeline is what one scenario recorded for its timeline.
type Timeline struct {
	Roles   *Roles      `json:"roles,omitempty"`
	Writes  []Writes    `json:"writes,omitempty"`
	Reads   []Reads     `json:"reads,omitempty"`
	Watches []Watch     `json:"watches,omitempty"`
	Lag     []LagSeries `json:"lag,omitempty"`
}

// Roles are the members' roles from Patroni's GET /cluster, asked every
// IntervalMS from the start of the scenario until its checks. Only the
// samples that differ from the one before are kept (Changes), so a steady
// cluster costs one entry; Samples and Failed count every attempt.
type Roles struct {
	Source     string       `json:"source"` // "GET /cluster"
	IntervalMS int64        `json:"interval_ms"`
	Start      time.Time    `json:"start"` // first sample asked
	End        time.Time    `json:"end"`   // last sample answered or failed
	Samples    int          `json:"samples"`
	Failed     int          `json:"failed"` // samples no member answered
	Changes    []RoleSample `json:"changes"`
}

// RoleSample is one answer of GET /cluster (or the failure to get one),
// dated when it arrived.
type RoleSample struct {
	At      time.Time    `json:"at"`
	Members []MemberRole `json:"members,omitempty"`
	// Error says why no member answered; Members is then empty.
	Error string `json:"error,omitempty"`
}

// MemberRole is one member in a RoleSample, as Patroni reported it.
type MemberRole struct {
	Name     string `json:"name"`
	Role     string `json:"role"`  // leader, replica, sync_standby, standby_leader
	State    string `json:"state"` // running, streaming, stopped, starting...
	Timeline *int64 `json:"timeline,omitempty"`
	// LagBytes is the lag Patroni reports (absent for the leader and when
	// unknown); it is as stale as the DCS, up to loop_wait.
	LagBytes *int64 `json:"lag_bytes,omitempty"`
}

// Equal reports whether two samples say the same (ignoring their times).
func (s RoleSample) Equal(o RoleSample) bool {
	return s.Error == o.Error && slices.EqualFunc(s.Members, o.Members, func(a, b MemberRole) bool {
		return a.Name == b.Name && a.Role == b.Role && a.State == b.State && eqPtr(a.Timeline, b.Timeline) && eqPtr(a.LagBytes, b.LagBytes)
	})
}

func eqPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// Writes are one writer's attempts counted per bucket of BucketMS by the
// time each attempt ended: bucket i covers [Start + i*BucketMS, Start +
// (i+1)*BucketMS). The three slices have the same length.
type Writes struct {
	Writer        string    `json:"writer"`
	Step          string    `json:"step,omitempty"` // the step that stopped it; "" at the end of the run
	Start         time.Time `json:"start"`
	BucketMS      int64     `json:"bucket_ms"`
	Acknowledged  []int     `json:"acknowledged"`
	Failed        []int     `json:"failed"`
	Indeterminate []int     `json:"indeterminate"`
}

// Outcome is how a write ended, for Bucket.
type Outcome int

// The outcomes Bucket counts.
const (
	Acknowledged Outcome = iota
	Failed
	Indeterminate
)

// Bucket counts writes that ended at ends[i] with outcomes[i] into buckets
// of width from start. Writes ending before start go into the first bucket.
func Bucket(writer string, start time.Time, width time.Duration, ends []time.Time, outcomes []Outcome) Writes {
	w := Writes{Writer: writer, Start: start, BucketMS: width.Milliseconds()}
	var last time.Time
	for _, e := range ends {
		if e.After(last) {
			last = e
		}
	}
	n := 0
	if len(ends) > 0 {
		n = int(max(last.Sub(start), 0)/width) + 1
	}
	w.Acknowledged, w.Failed, w.Indeterminate = make([]int, n), make([]int, n), make([]int, n)
	for i, e := range ends {
		b := int(max(e.Sub(start), 0) / width)
		switch outcomes[i] {
		case Acknowledged:
			w.Acknowledged[b]++
		case Failed:
			w.Failed[b]++
		default:
			w.Indeterminate[b]++
		}
	}
	return w
}

// Reads are one reader's reads counted per bucket of BucketMS by the time
// each ended, as Writes are: bucket i covers [Start + i*BucketMS, Start +
// (i+1)*BucketMS). OK and Failed have the same length.
type Reads struct {
	Reader   string    `json:"reader"`
	Step     string    `json:"step,omitempty"` // the step that stopped it; "" at the end of the run
	On       string    `json:"on,omitempty"`   // what it read through: a member, pooled, replica_route...
	Start    time.Time `json:"start"`
	BucketMS int64     `json:"bucket_ms"`
	OK       []int     `json:"ok"`
	Failed   []int     `json:"failed"`
	// Outage is the reader's longest outage; nil when no read failed.
	Outage *Outage `json:"outage,omitempty"`
}

// Outage is a window in which reads failed: from the start of a failed
// read to the end of the first successful read that began after it (the
// reader's read_outage_s), or, when Open, from the start of the first
// failed read that no successful read followed to the end of the last read.
type Outage struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Open  bool      `json:"open,omitempty"`
}

// Watch is what a split-brain watcher saw: each member's state over time
// (primary: it committed the probe write; read_only: it refused it;
// unknown: no answer in time) and the windows during which more than one
// member accepted writes.
type Watch struct {
	Watcher    string `json:"watcher"`
	Step       string `json:"step,omitempty"`
	IntervalMS int64  `json:"interval_ms"`
	States     []Span `json:"states"`
	Overlaps   []Span `json:"overlaps,omitempty"`
}

// Span is a period during which Members were in State.
type Span struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	State   string    `json:"state,omitempty"`
	Members []string  `json:"members"`
}

// LagSeries is a lag watcher's samples of the largest replay lag the
// leader On reported. A sample whose read failed is absent, not zero.
type LagSeries struct {
	Watcher    string      `json:"watcher"`
	Step       string      `json:"step,omitempty"`
	On         string      `json:"on"`
	IntervalMS int64       `json:"interval_ms"`
	Samples    []LagSample `json:"samples"`
}

// LagSample is one reading: nil Bytes means no standby reported a replay
// position.
type LagSample struct {
	At    time.Time `json:"at"`
	Bytes *int64    `json:"bytes"`
}

// Recorder collects a scenario's series. The zero value is ready; a nil
// *Recorder drops what it is given.
type Recorder struct {
	mu sync.Mutex
	t  Timeline
}

// SetRoles keeps the role samples.
func (r *Recorder) SetRoles(roles Roles) { r.update(func(t *Timeline) { t.Roles = &roles }) }

// AddWrites keeps one writer's buckets.
func (r *Recorder) AddWrites(w Writes) {
	r.update(func(t *Timeline) { t.Writes = append(t.Writes, w) })
}

// AddReads keeps one reader's buckets.
func (r *Recorder) AddReads(rd Reads) {
	r.update(func(t *Timeline) { t.Reads = append(t.Reads, rd) })
}

// AddWatch keeps what a split-brain watcher saw.
func (r *Recorder) AddWatch(w Watch) {
	r.update(func(t *Timeline) { t.Watches = append(t.Watches, w) })
}

// AddLag keeps a lag watcher's samples.
func (r *Recorder) AddLag(l LagSeries) { r.update(func(t *Timeline) { t.Lag = append(t.Lag, l) }) }

// update changes the timeline under the lock; a nil Recorder keeps nothing.
func (r *Recorder) update(f func(*Timeline)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.t)
}

// Timeline returns a copy of what was recorded, or nil when nothing was.
func (r *Recorder) Timeline() *Timeline {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.t.Roles == nil && r.t.Writes == nil && r.t.Reads == nil && r.t.Watches == nil && r.t.Lag == nil {
		return nil
	}
	t := r.t
	t.Writes = slices.Clone(t.Writes)
	t.Reads = slices.Clone(t.Reads)
	t.Watches = slices.Clone(t.Watches)
	t.Lag = slices.Clone(t.Lag)
	return &t
}
