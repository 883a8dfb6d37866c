package pg

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// readMax is the Reader's read: how far the followed writer's run has got,
// as this node sees it. The (run_id, seq) key makes it one index lookup.
const readMax = `SELECT coalesce(max(seq), 0) FROM drill_writes WHERE run_id = $1`

// Ack is one acknowledged write of a Writer: its sequence number and when
// its acknowledgement arrived.
type Ack struct {
	Seq int64
	At  time.Time
}

// Followed is the writer a Reader compares its reads with. *Writer
// implements it.
type Followed interface {
	RunID() string
	// Acks returns the acknowledged writes in order of At, in which their
	// Seq increases too.
	Acks() []Ack
}

var _ Followed = (*Writer)(nil)

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// DSN is where the reader reads: a member, a replica route or the
	// pooled endpoint. Statements use pgx.QueryExecModeExec, as the
	// Writer's do.
	DSN string
	// Follows is the writer whose rows each read looks at and whose
	// acknowledgements the reads are compared with (staleness). Without
	// it each read is the same lookup for a run with no rows, and only
	// throughput, errors and the outage are measured.
	Follows Followed
	// Concurrency is the number of connections reading at once (default 1).
	Concurrency int
	// Rate is the number of reads per second of all connections together;
	// 0 reads as fast as they can. After an outage the reader resumes at
	// Rate, without a burst to catch up.
	Rate float64
	// ReadTimeout bounds one read (default 2 s).
	ReadTimeout time.Duration
	// LoopConfig: reconnection, the pause after a failed read, the
	// longest run (the reader keeps 32 bytes per read until Stop), the log.
	LoopConfig
}

func (c *ReaderConfig) defaults() {
	if c.Concurrency < 1 {
		c.Concurrency = 1
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 2 * time.Second
	}
	c.LoopConfig.defaults()
}

// read is one read, its times offset from the reader's start to keep it
// small: a reader may make tens of thousands of reads a second.
type read struct {
	Start, End time.Duration
	Seen       int64 // the highest seq the read saw (0: none); -1: the read failed
}

func (r read) ok() bool { return r.Seen >= 0 }

// Reader reads the followed writer's progress in the background, across
// faults, from several connections, and records every read. Stop ends it
// and compares the reads with the writer's acknowledgements.
type Reader struct {
	cfg   ReaderConfig
	runID string
	begin time.Time
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	mu          sync.Mutex
	reads       []read
	firstErr    string
	outageSince time.Time
}

// StartReader makes one read through cfg.DSN, so that a wrong target or a
// missing drill_writes table (no writer has run there: start one first)
// fails here, then starts reading. ctx bounds this first read only: the
// reader runs until Stop (or MaxDuration).
func StartReader(ctx context.Context, cfg ReaderConfig) (*Reader, error) {
	cfg.defaults()
	runID := newID("read-")
	if cfg.Follows != nil {
		runID = cfg.Follows.RunID()
	}
	conn, err := openRoute(ctx, cfg.DSN, poolSafeOptions(cfg.ConnectTimeout), cfg.RetryInterval, cfg.Logger, "reader", func(ctx context.Context, conn *pgx.Conn) error {
		var seen int64
		return conn.QueryRow(ctx, readMax, runID).Scan(&seen)
	})
	if err != nil {
		return nil, fmt.Errorf("pg: reader: connect and first read of %s: %w", WritesTable, err)
	}
	r := &Reader{cfg: cfg, runID: runID, begin: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	pace := newPacer(cfg.Rate)
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		var c *pgx.Conn
		if i == 0 {
			c = conn
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(c, pace)
		}()
	}
	go func() {
		wg.Wait()
		close(r.done)
	}()
	return r, nil
}

// run is one connection's loop.
func (r *Reader) run(conn *pgx.Conn, pace *pacer) {
	defer func() { closeConn(conn) }()
	for {
		if !sleepUntil(pace.reserve(), r.stop) {
			return
		}
		if time.Since(r.begin) > r.cfg.MaxDuration {
			r.once.Do(func() {
				r.cfg.Logger.Warn("pg: reader stopped: MaxDuration reached without Stop", "max_duration", r.cfg.MaxDuration)
				close(r.stop)
			})
			return
		}
		rd, err := r.read(&conn)
		r.record(rd, err)
		if err != nil && !sleepUntil(time.Now().Add(r.cfg.RetryInterval), r.stop) {
			return
		}
	}
}

// read reads once, (re)connecting first if *conn is nil. After any error
// it closes the connection: the next read starts afresh.
func (r *Reader) read(conn **pgx.Conn) (read, error) {
	rd := read{Start: time.Since(r.begin), Seen: -1}
	if *conn == nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ConnectTimeout)
		c, err := connect(ctx, r.cfg.DSN, poolSafeOptions(r.cfg.ConnectTimeout))
		cancel()
		if err != nil {
			rd.End = time.Since(r.begin)
			return rd, fmt.Errorf("connect: %w", err)
		}
		*conn = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ReadTimeout)
	var seen int64
	err := (*conn).QueryRow(ctx, readMax, r.runID).Scan(&seen)
	cancel()
	rd.End = time.Since(r.begin)
	if err != nil {
		closeConn(*conn)
		*conn = nil
		return rd, err
	}
	rd.Seen = seen
	return rd, nil
}

func (r *Reader) record(rd read, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, rd)
	switch {
	case err != nil && r.outageSince.IsZero():
		r.outageSince = r.begin.Add(rd.Start)
		r.cfg.Logger.Info("pg: reader: read failed", "run_id", r.runID, "err", err)
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
	case err == nil && !r.outageSince.IsZero():
		r.cfg.Logger.Info("pg: reader: reads succeed again", "run_id", r.runID, "after", r.begin.Add(rd.End).Sub(r.outageSince).Round(time.Millisecond))
		r.outageSince = time.Time{}
	}
}

// Reads returns how many reads have ended so far and how many of them
// failed.
func (r *Reader) Reads() (ended, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rd := range r.reads {
		if !rd.ok() {
			failed++
		}
	}
	return len(r.reads), failed
}

// ReaderReport is what a reader run measured. Pointer fields are absent
// (nil) when they could not be measured.
type ReaderReport struct {
	RunID       string // the run the reads looked at
	Start, End  time.Time
	Concurrency int

	Reads      int    // reads that returned
	ReadErrors int    // reads (or their connections) that failed
	FirstError string `json:",omitempty"`
	// ReadsPerS is successful reads per second over [Start, End].
	ReadsPerS *float64
	// ReadOutageS is the longest outage the reads saw: from the start of a
	// failed read to the end of the first successful read that began after
	// it (the earliest to end of those). Nil when no read failed, or when
	// a failed read was followed by no successful one (OutageOpen).
	ReadOutageS *float64
	OutageOpen  bool
	// OutageFrom and OutageTo are the window of ReadOutageS or, when
	// OutageOpen, from the start of the first failed read that no
	// successful read followed to the end of the last read. Zero when no
	// read failed.
	OutageFrom, OutageTo time.Time
	// Buckets count the reads per BucketWidth by when each ended, for the
	// report's timeline.
	Buckets ReadBuckets

	// Staleness, measured only when the reader follows a writer and some
	// read returned. A read that began at t and saw the highest sequence
	// number s is stale when writes with a sequence number above s were
	// acknowledged before t. The writer writes one number at a time and
	// PostgreSQL makes commits visible in order, so such a read missed
	// exactly those writes.
	StaleReads *int
	// MaxStaleRows is the most acknowledged writes one read missed.
	MaxStaleRows *int64
	// MaxStaleS is the longest a read was behind: the start of the read
	// minus the acknowledgement of the first write it missed.
	MaxStaleS *float64
	// BackwardsReads counts reads that saw less than a read that had
	// ended before they began, on any connection: monotonic reads broken.
	// A read's end is taken after its result is known, so concurrent reads
	// never count.
	BackwardsReads *int
}

// ReadBuckets count reads per Width from Start (the first read's start)
// by when each ended. OK and Failed have the same length.
type ReadBuckets struct {
	Start      time.Time
	Width      time.Duration
	OK, Failed []int
}

// Metrics returns the report under drill's metric names, leaving out every
// value that was not measured.
func (r ReaderReport) Metrics() map[string]float64 {
	m := map[string]float64{"reads": float64(r.Reads), "read_errors": float64(r.ReadErrors)}
	for name, v := range map[string]*float64{"reads_per_s": r.ReadsPerS, "read_outage_s": r.ReadOutageS, "max_stale_s": r.MaxStaleS} {
		if v != nil {
			m[name] = *v
		}
	}
	for name, v := range map[string]*int{"stale_reads": r.StaleReads, "backwards_reads": r.BackwardsReads} {
		if v != nil {
			m[name] = float64(*v)
		}
	}
	if r.MaxStaleRows != nil {
		m["max_stale_rows"] = float64(*r.MaxStaleRows)
	}
	return m
}

// Stop stops the reader (waiting for the reads in flight, at most
// ConnectTimeout plus ReadTimeout) and compares its reads with the
// followed writer's acknowledgements. It may be called again.
func (r *Reader) Stop(ctx context.Context) (ReaderReport, error) {
	r.once.Do(func() { close(r.stop) })
	var err error
	select {
	case <-r.done:
	case <-ctx.Done():
		err = fmt.Errorf("pg: reader: stop: %w", ctx.Err())
	}
	r.mu.Lock()
	reads, firstErr := slices.Clone(r.reads), r.firstErr
	r.mu.Unlock()
	var acks []Ack
	if r.cfg.Follows != nil {
		acks = r.cfg.Follows.Acks()
	}
	rep := assess(r.begin, reads, r.cfg.Follows != nil, acks)
	rep.RunID, rep.Concurrency, rep.FirstError = r.runID, r.cfg.Concurrency, firstErr
	return rep, err
}

// assess computes the report of reads made from begin; following says
// whether they follow a writer, whose acknowledgements acks are.
func assess(begin time.Time, reads []read, following bool, acks []Ack) ReaderReport {
	var rep ReaderReport
	if len(reads) == 0 {
		return rep
	}
	first, last := reads[0].Start, reads[0].End
	var ok, failed []read
	for _, rd := range reads {
		first, last = min(first, rd.Start), max(last, rd.End)
		if rd.ok() {
			ok = append(ok, rd)
		} else {
			failed = append(failed, rd)
		}
	}
	rep.Start, rep.End = begin.Add(first), begin.Add(last)
	rep.Reads, rep.ReadErrors = len(ok), len(failed)
	if d := (last - first).Seconds(); d > 0 {
		rep.ReadsPerS = ptr(float64(len(ok)) / d)
	}
	rep.Buckets = readBuckets(begin, first, last, reads)
	if w, found, open := longestOutage(ok, failed, last); found {
		rep.OutageFrom, rep.OutageTo, rep.OutageOpen = begin.Add(w.from), begin.Add(w.to), open
		if !open {
			rep.ReadOutageS = ptr((w.to - w.from).Seconds())
		}
	}
	if following && len(ok) > 0 {
		rep.staleness(begin, ok, acks)
		rep.BackwardsReads = ptr(backwards(ok))
	}
	return rep
}

// readBuckets counts the reads, made from first to last (offsets from
// begin), per BucketWidth from first by when each ended.
func readBuckets(begin time.Time, first, last time.Duration, reads []read) ReadBuckets {
	n := int((last-first)/BucketWidth) + 1
	b := ReadBuckets{Start: begin.Add(first), Width: BucketWidth, OK: make([]int, n), Failed: make([]int, n)}
	for _, rd := range reads {
		i := int(max(rd.End-first, 0) / BucketWidth)
		if rd.ok() {
			b.OK[i]++
		} else {
			b.Failed[i]++
		}
	}
	return b
}

// window is a span of the reads, offsets from the reader's start.
type window struct{ from, to time.Duration }

// longestOutage returns the longest window from a failed read's start to
// the end of the first successful read that began after it (found: some
// read failed). When some failed read has no successful read after it,
// open is set and the window runs from the earliest such read's start to
// last, the end of the last read.
func longestOutage(ok, failed []read, last time.Duration) (w window, found, open bool) {
	byStart := slices.Clone(ok)
	slices.SortFunc(byStart, func(a, b read) int { return cmp.Compare(a.Start, b.Start) })
	// firstEnd[i] is the earliest end of the reads byStart[i:].
	firstEnd := make([]time.Duration, len(byStart)+1)
	firstEnd[len(byStart)] = -1
	for i := len(byStart) - 1; i >= 0; i-- {
		firstEnd[i] = byStart[i].End
		if next := firstEnd[i+1]; next >= 0 && next < firstEnd[i] {
			firstEnd[i] = next
		}
	}
	var openFrom time.Duration
	for _, f := range failed {
		i := sort.Search(len(byStart), func(i int) bool { return byStart[i].Start > f.Start })
		if firstEnd[i] < 0 {
			if !open || f.Start < openFrom {
				openFrom = f.Start
			}
			open = true
			continue
		}
		if d := firstEnd[i] - f.Start; !found || d > w.to-w.from {
			w, found = window{f.Start, firstEnd[i]}, true
		}
	}
	if open {
		return window{openFrom, last}, true, true
	}
	return w, found, false
}

// staleness compares each successful read with the writes acknowledged
// before it began.
func (rep *ReaderReport) staleness(begin time.Time, ok []read, acks []Ack) {
	stale, maxRows, maxS := 0, int64(0), 0.0
	for _, rd := range ok {
		t := begin.Add(rd.Start)
		before := sort.Search(len(acks), func(i int) bool { return !acks[i].At.Before(t) })
		seen := sort.Search(before, func(i int) bool { return acks[i].Seq > rd.Seen })
		missed := int64(before - seen)
		if missed == 0 {
			continue
		}
		stale++
		maxRows = max(maxRows, missed)
		maxS = max(maxS, t.Sub(acks[seen].At).Seconds())
	}
	rep.StaleReads, rep.MaxStaleRows, rep.MaxStaleS = &stale, &maxRows, &maxS
}

// backwards counts the reads that saw less than some read that ended
// before they began.
func backwards(ok []read) int {
	byStart, byEnd := slices.Clone(ok), slices.Clone(ok)
	slices.SortFunc(byStart, func(a, b read) int { return cmp.Compare(a.Start, b.Start) })
	slices.SortFunc(byEnd, func(a, b read) int { return cmp.Compare(a.End, b.End) })
	n, j, high := 0, 0, int64(-1)
	for _, rd := range byStart {
		for ; j < len(byEnd) && byEnd[j].End < rd.Start; j++ {
			high = max(high, byEnd[j].Seen)
		}
		if rd.Seen < high {
			n++
		}
	}
	return n
}
