package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// ProbesTable is where the split-brain watcher's probe writes go.
const ProbesTable = "drill_probes"

const createProbes = `CREATE TABLE IF NOT EXISTS drill_probes (
	run_id text NOT NULL,
	member text NOT NULL,
	seq bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (run_id, member, seq))`

// The probe is a real committed INSERT, not SELECT txid_current() (which
// also fails in recovery): split brain harms because two servers commit
// client writes, and only a write acknowledged through the same path as an
// application's proves that. It waits for synchronous replication like an
// application's commit would, and it leaves evidence: each member's
// drill_probes rows show what it accepted. RETURNING reports
// pg_is_in_recovery() in the same round trip.
const insertProbe = `INSERT INTO drill_probes (run_id, member, seq) VALUES ($1, $2, $3) RETURNING pg_is_in_recovery(), clock_timestamp()`

// ProbeState is what one probe established about a member.
type ProbeState int

// Probe states.
const (
	// StateUnknown: no answer in time, no connection, or an error that
	// proves nothing either way.
	StateUnknown ProbeState = iota
	// StatePrimary: the member committed the probe write.
	StatePrimary
	// StateReadOnly: the member refused the write (in recovery, or
	// read-only).
	StateReadOnly
)

var probeStateNames = map[ProbeState]string{StateUnknown: "unknown", StatePrimary: "primary", StateReadOnly: "read_only"}

func (s ProbeState) String() string { return probeStateNames[s] }

// MarshalText writes the state's name.
func (s ProbeState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Observation is one probe of one member. End is when the member answered
// (for an accepted write, the server's own time at the INSERT when it falls
// between Start and the answer), or Start+ProbeTimeout for the unknown
// recorded while a probe still waits.
type Observation struct {
	Member     string
	Start, End time.Time
	State      ProbeState
	InRecovery *bool  `json:",omitempty"`
	Err        string `json:",omitempty"`
}

// WatchConfig configures a SplitBrainWatcher.
type WatchConfig struct {
	// Members are probed directly, one DSN each (not through a pooler).
	Members []Node
	// Interval between two probes of a member (default 200 ms).
	Interval time.Duration
	// ProbeTimeout: a member that has not answered by then is recorded as
	// unknown (default 250 ms).
	ProbeTimeout time.Duration
	// StuckTimeout is how long a probe may keep waiting on a frozen member
	// (default 60 s). It keeps waiting past ProbeTimeout on purpose: when
	// the member resumes, the waiting write runs at once, before Patroni
	// demotes it, exactly as an application's pending write would.
	StuckTimeout time.Duration
	// RunID tags this run's probe rows (default: random).
	RunID  string
	Logger *slog.Logger
}

// SplitBrainWatcher probes every member for accepted writes until Stop.
type SplitBrainWatcher struct {
	cfg    WatchConfig
	start  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	obs []Observation
}

// StartSplitBrainWatcher starts one prober per member. ctx bounds nothing
// after it returns: the watcher runs until Stop.
func StartSplitBrainWatcher(ctx context.Context, cfg WatchConfig) (*SplitBrainWatcher, error) {
	if len(cfg.Members) == 0 {
		return nil, errors.New("pg: split-brain watcher: no members")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = 250 * time.Millisecond
	}
	if cfg.StuckTimeout <= 0 {
		cfg.StuckTimeout = 60 * time.Second
	}
	if cfg.RunID == "" {
		cfg.RunID = newID("sb-")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &SplitBrainWatcher{cfg: cfg, start: time.Now(), cancel: cancel}
	for _, n := range cfg.Members {
		p := &prober{w: w, node: n}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			p.loop(runCtx)
		}()
	}
	return w, nil
}

// Observations returns a copy of the observations so far, in the order
// they were recorded.
func (w *SplitBrainWatcher) Observations() []Observation {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Observation(nil), w.obs...)
}

func (w *SplitBrainWatcher) record(o Observation) {
	w.mu.Lock()
	w.obs = append(w.obs, o)
	w.mu.Unlock()
}

// Stop ends the probes (abandoning any that wait on a frozen member) and
// analyses the observations.
func (w *SplitBrainWatcher) Stop(ctx context.Context) (SplitBrainReport, error) {
	w.cancel()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return Analyze(w.start, time.Now(), w.Observations()), fmt.Errorf("pg: split-brain watcher: stop: %w", ctx.Err())
	}
	return Analyze(w.start, time.Now(), w.Observations()), nil
}

// prober probes one member, one probe at a time.
type prober struct {
	w    *SplitBrainWatcher
	node Node
	conn *pgx.Conn
	seq  int64
}

func (p *prober) loop(ctx context.Context) {
	defer func() { closeConn(p.conn) }()
	cfg := p.w.cfg
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		start := time.Now()
		result := make(chan Observation, 1)
		go func() { result <- p.probe(ctx, start) }()
		select {
		case o := <-result:
			p.w.record(o)
		case <-time.After(cfg.ProbeTimeout):
			p.w.record(Observation{Member: p.node.Name, Start: start, End: start.Add(cfg.ProbeTimeout),
				State: StateUnknown, Err: fmt.Sprintf("no answer within %s", cfg.ProbeTimeout)})
			o := <-result // the probe ends by itself: StuckTimeout or Stop
			if ctx.Err() == nil {
				p.w.record(o)
			}
		case <-ctx.Done():
			<-result
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe writes one probe row. Only its own goroutine touches p.conn.
func (p *prober) probe(ctx context.Context, start time.Time) Observation {
	o := Observation{Member: p.node.Name, Start: start}
	ctx, cancel := context.WithTimeout(ctx, p.w.cfg.StuckTimeout)
	defer cancel()
	if p.conn == nil {
		mode := pgx.QueryExecModeExec
		c, err := connect(ctx, p.node.DSN, ConnOptions{ConnectTimeout: p.w.cfg.StuckTimeout, ExecMode: &mode})
		if err != nil {
			o.End, o.Err = time.Now(), "connect: "+err.Error()
			return o
		}
		p.conn = c
	}
	p.seq++
	var inRecovery bool
	var accepted time.Time
	err := p.conn.QueryRow(ctx, insertProbe, p.w.cfg.RunID, p.node.Name, p.seq).Scan(&inRecovery, &accepted)
	if sqlState(err) == "42P01" { // first probe of a primary: create the table
		if _, err = p.conn.Exec(ctx, createProbes); ignoreDuplicateObject(err) == nil {
			err = p.conn.QueryRow(ctx, insertProbe, p.w.cfg.RunID, p.node.Name, p.seq).Scan(&inRecovery, &accepted)
		}
	}
	o.End = time.Now()
	switch {
	case err == nil:
		// The member took the write when the server ran it, not when its
		// answer reached drill (late on a loaded machine): date the
		// observation by the server's clock, which the test bed's
		// containers share with the host, when it is not in the future.
		if !accepted.IsZero() && accepted.After(start) && accepted.Before(o.End) {
			o.End = accepted
		}
		o.State, o.InRecovery = StatePrimary, &inRecovery
	case sqlState(err) == "25006": // read_only_sql_transaction
		o.State = StateReadOnly
		var rec bool
		qctx, qcancel := context.WithTimeout(ctx, p.w.cfg.ProbeTimeout)
		if p.conn.QueryRow(qctx, `SELECT pg_is_in_recovery()`).Scan(&rec) == nil {
			o.InRecovery = &rec
		}
		qcancel()
	default:
		o.Err = err.Error()
		if ctx.Err() != nil || p.conn.IsClosed() || !isPgError(err) {
			closeConn(p.conn)
			p.conn = nil
		}
	}
	return o
}

// Overlap is a period during which more than one member accepted writes.
type Overlap struct {
	Start, End time.Time
	Members    []string
}

// MemberSummary counts one member's observations by state.
type MemberSummary struct {
	Member                     string
	Primary, ReadOnly, Unknown int
}

// SplitBrainReport is what the watcher saw.
type SplitBrainReport struct {
	Start, End time.Time
	// MaxPrimaries is the most members accepting writes at one instant;
	// SplitBrainS the total time more than one did. A member counts as
	// accepting writes from a committed probe until its next observation
	// says otherwise, so the resolution is the probe interval. Both are nil
	// when no member ever gave a definite answer.
	MaxPrimaries *int
	SplitBrainS  *float64
	Overlaps     []Overlap
	Members      []MemberSummary
	Observations []Observation
}

// Metrics returns max_primaries and split_brain_s, when measured.
func (r SplitBrainReport) Metrics() map[string]float64 {
	m := map[string]float64{}
	if r.MaxPrimaries != nil {
		m["max_primaries"] = float64(*r.MaxPrimaries)
	}
	if r.SplitBrainS != nil {
		m["split_brain_s"] = *r.SplitBrainS
	}
	return m
}

// Analyze turns observations made between start and end into a report.
// Each observation sets its member's state at its End.
func Analyze(start, end time.Time, obs []Observation) SplitBrainReport {
	r := SplitBrainReport{Start: start, End: end, Observations: obs}
	events := slices.Clone(obs)
	slices.SortStableFunc(events, func(a, b Observation) int { return a.End.Compare(b.End) })

	state := map[string]ProbeState{}
	summary := map[string]*MemberSummary{}
	var order []string
	definite := false
	maxP, split := 0, 0.0
	var cur *Overlap
	primaries := func() []string {
		var names []string
		for _, m := range order {
			if state[m] == StatePrimary {
				names = append(names, m)
			}
		}
		return names
	}
	for i, o := range events {
		if _, ok := summary[o.Member]; !ok {
			summary[o.Member] = &MemberSummary{Member: o.Member}
			order = append(order, o.Member)
		}
		s := summary[o.Member]
		switch o.State {
		case StatePrimary:
			s.Primary++
			definite = true
		case StateReadOnly:
			s.ReadOnly++
			definite = true
		default:
			s.Unknown++
		}
		state[o.Member] = o.State
		if i+1 < len(events) && events[i+1].End.Equal(o.End) {
			continue // apply simultaneous observations together
		}
		ps := primaries()
		maxP = max(maxP, len(ps))
		next := end
		if i+1 < len(events) {
			next = events[i+1].End
		}
		if len(ps) > 1 {
			split += next.Sub(o.End).Seconds()
			if cur == nil || !slices.Equal(cur.Members, ps) {
				if cur != nil {
					r.Overlaps = append(r.Overlaps, *cur)
				}
				cur = &Overlap{Start: o.End, Members: ps}
			}
			cur.End = next
		} else if cur != nil {
			r.Overlaps = append(r.Overlaps, *cur)
			cur = nil
		}
	}
	if cur != nil {
		r.Overlaps = append(r.Overlaps, *cur)
	}
	for _, m := range order {
		r.Members = append(r.Members, *summary[m])
	}
	if definite {
		r.MaxPrimaries, r.SplitBrainS = &maxP, &split
	}
	return r
}
