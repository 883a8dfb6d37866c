package pg

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// WritesTable is where the Writer inserts its rows.
const WritesTable = "drill_writes"

// The key is (run_id, seq) so that runs never collide.
const createWrites = `CREATE TABLE IF NOT EXISTS drill_writes (
	run_id text NOT NULL,
	seq bigint NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (run_id, seq))`

const insertWrite = `INSERT INTO drill_writes (run_id, seq) VALUES ($1, $2)`

// maxListed caps the sequence numbers a report lists.
const maxListed = 1000

// WriterConfig configures a Writer.
type WriterConfig struct {
	// DSN is where the writer writes; in drill the pooled endpoint
	// (PgBouncer behind HAProxy). It must reach a primary when the writer
	// starts. Statements use pgx.QueryExecModeExec: no named prepared
	// statements, so any pooling mode works.
	DSN string
	// RunID tags this run's rows (default: a fresh random ID).
	RunID string
	// Rate is the number of attempts per second; 0 writes as fast as one
	// connection can. After an outage the writer resumes at Rate, without
	// a burst to catch up.
	Rate float64
	// AttemptTimeout bounds one INSERT and its commit (default 2 s). An
	// attempt that runs out of time is indeterminate.
	AttemptTimeout time.Duration
	// SetRead, when above 0, is the interval between set reads: on its
	// own connection through DSN, the writer's set reader reads every
	// sequence number of the run (see setread.go); 0 does not read. Each
	// read returns all the run's rows so far.
	SetRead time.Duration
	// SetReadTimeout bounds one set read (default 2 s).
	SetReadTimeout time.Duration
	// LoopConfig: reconnection, the pause after a failed attempt, the
	// longest run, the log.
	LoopConfig
}

func (c *WriterConfig) defaults() {
	if c.RunID == "" {
		c.RunID = newID("run-")
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 2 * time.Second
	}
	if c.SetReadTimeout <= 0 {
		c.SetReadTimeout = 2 * time.Second
	}
	c.LoopConfig.defaults()
}

// Attempt is one write: one sequence number, tried once.
type Attempt struct {
	Seq        int64
	Start, End time.Time
	Outcome    Outcome
	// NewConn is set when the attempt had to open a connection first (after
	// an error the writer always reconnects); Connected is when that
	// connection was established (zero if connecting failed).
	NewConn   bool
	Connected time.Time
	Err       string `json:",omitempty"`
}

// Writer inserts sequence-numbered rows in the background, across faults,
// and records every attempt; with SetRead it also reads the run's set.
// Stop ends it and verifies what survived.
type Writer struct {
	cfg     WriterConfig
	stop    chan struct{}
	done    chan struct{}
	setDone chan struct{} // closed when the set reader has stopped (at once without one)
	once    sync.Once
	set     *setReads // nil without SetRead

	mu       sync.Mutex
	attempts []Attempt
}

// StartWriter connects through cfg.DSN, creates drill_writes if missing and
// starts writing. A route that refuses new clients for a moment (see
// openRoute) is retried until ctx ends. ctx bounds this setup only: the
// writer runs until Stop (or MaxDuration).
func StartWriter(ctx context.Context, cfg WriterConfig) (*Writer, error) {
	cfg.defaults()
	conn, err := openRoute(ctx, cfg.DSN, cfg.connOptions(), cfg.RetryInterval, cfg.Logger, "writer", func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, createWrites)
		return ignoreDuplicateObject(err)
	})
	if err != nil {
		return nil, fmt.Errorf("pg: writer: connect and create %s: %w", WritesTable, err)
	}
	w := &Writer{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{}), setDone: make(chan struct{})}
	go w.run(conn)
	if cfg.SetRead > 0 {
		w.set = &setReads{}
		go w.readSets()
	} else {
		close(w.setDone)
	}
	return w, nil
}

// RunID identifies this run's rows in drill_writes.
func (w *Writer) RunID() string { return w.cfg.RunID }

func (c WriterConfig) connOptions() ConnOptions { return poolSafeOptions(c.ConnectTimeout) }

// Attempts returns a copy of the attempts so far, in order.
func (w *Writer) Attempts() []Attempt {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Attempt(nil), w.attempts...)
}

// Acks returns the acknowledged writes so far, in order: their sequence
// numbers and the ends of their attempts both increase, since the writer
// tries one number at a time. A Reader that follows the writer compares
// its reads with them.
func (w *Writer) Acks() []Ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	var acks []Ack
	for _, a := range w.attempts {
		if a.Outcome == Acknowledged {
			acks = append(acks, Ack{Seq: a.Seq, At: a.End})
		}
	}
	return acks
}

// tried returns the highest sequence number tried so far, counting the
// attempt in flight.
func (w *Writer) tried() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int64(len(w.attempts)) + 1
}

func (w *Writer) record(a Attempt) {
	w.mu.Lock()
	w.attempts = append(w.attempts, a)
	w.mu.Unlock()
}

func (w *Writer) run(conn *pgx.Conn) {
	defer close(w.done)
	defer func() { closeConn(conn) }()
	log := w.cfg.Logger.With("run_id", w.cfg.RunID)
	begin := time.Now()
	pace := newPacer(w.cfg.Rate)
	var outageSince time.Time
	for seq := int64(1); ; seq++ {
		if !sleepUntil(pace.reserve(), w.stop) {
			return
		}
		if time.Since(begin) > w.cfg.MaxDuration {
			log.Warn("pg: writer stopped: MaxDuration reached without Stop", "max_duration", w.cfg.MaxDuration)
			return
		}

		a := w.attempt(&conn, seq)
		w.record(a)
		if a.Outcome == Acknowledged {
			if !outageSince.IsZero() {
				log.Info("pg: writer: writes acknowledged again", "after", a.End.Sub(outageSince).Round(time.Millisecond))
				outageSince = time.Time{}
			}
			continue
		}
		if outageSince.IsZero() {
			outageSince = a.Start
			log.Info("pg: writer: write not acknowledged", "seq", a.Seq, "outcome", a.Outcome, "err", a.Err)
		}
		pace.notBefore(time.Now().Add(w.cfg.RetryInterval))
	}
}

// attempt writes seq once, (re)connecting first if *conn is nil. After
// any error it closes the connection: the next attempt starts afresh.
func (w *Writer) attempt(conn **pgx.Conn, seq int64) Attempt {
	a := Attempt{Seq: seq, Start: time.Now()}
	if *conn == nil {
		a.NewConn = true
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.ConnectTimeout)
		c, err := connect(ctx, w.cfg.DSN, w.cfg.connOptions())
		cancel()
		if err != nil {
			a.End, a.Outcome, a.Err = time.Now(), Failed, "connect: "+err.Error()
			return a
		}
		*conn = c
		a.Connected = time.Now()
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.AttemptTimeout)
	_, err := (*conn).Exec(ctx, insertWrite, w.cfg.RunID, seq)
	cancel()
	a.End, a.Outcome = time.Now(), Classify(err)
	if err != nil {
		a.Err = err.Error()
		closeConn(*conn)
		*conn = nil
	}
	return a
}

// WriterReport is what a writer run measured. Pointer fields are absent
// (nil) when they could not be measured.
type WriterReport struct {
	RunID      string
	Start, End time.Time // first attempt's start, last attempt's end

	Attempts      int
	Acknowledged  int
	Failed        int
	Indeterminate int
	// ThroughputOps is acknowledged writes per second over [Start, End].
	ThroughputOps *float64
	// WriteRTOS is the outage as the client saw it: from the start of the
	// first attempt that was not acknowledged to the end of the first
	// acknowledged attempt after it. Nil if every attempt was acknowledged
	// or none was after the first failure (see OutageOpen).
	WriteRTOS *float64
	// ReconnectS is from the start of that first failed attempt to the
	// moment a new connection was established on which the next write was
	// acknowledged. Nil when WriteRTOS is.
	ReconnectS *float64
	// OutageOpen is set when the run ended with no acknowledged write after
	// its first failure.
	OutageOpen bool

	// Verification against the node Stop was given: every attempt
	// classified by whether its row is there, as Jepsen's set checker does.
	// All nil if verification failed.
	VerifiedOn string
	// LostWrites counts acknowledged writes whose row is missing.
	LostWrites *int
	LostSeqs   []int64 `json:",omitempty"` // the first maxListed of them
	// IndeterminateCommitted counts indeterminate writes whose row exists.
	IndeterminateCommitted *int
	// FailedButPresent counts writes classified failed whose row exists;
	// anything but 0 means the classification was wrong.
	FailedButPresent *int
	// GhostWrites counts writes the client saw fail (indeterminate or
	// failed) whose row exists: committed despite the error.
	GhostWrites *int
	GhostSeqs   []int64 `json:",omitempty"` // the first maxListed of them
	// NeverCommitted counts writes the client saw fail whose row is missing.
	NeverCommitted *int
	// DuplicateRows counts rows beyond the first for one sequence number.
	// The writer tries each number once and drill's table has (run_id, seq)
	// as its key, so anything but 0 means a table without that key and a
	// layer (pooler, driver, proxy) that replayed a statement.
	DuplicateRows *int
	VerifyError   string `json:",omitempty"`

	// The set reads (WriterConfig.SetRead), as Jepsen's set-full checker
	// counts them. SetReads and SetReadErrors are nil without SetRead;
	// the rest also when no set read succeeded or verification failed.
	SetReads      *int
	SetReadErrors *int
	SetReadError  string `json:",omitempty"` // the last one
	// VanishedWrites counts writes a set read saw that are missing on the
	// verification node: seen, then lost. The acknowledged ones are in
	// LostWrites too.
	VanishedWrites *int
	// UnreadWrites counts writes present on the verification node that no
	// set read saw (normally those of the last interval).
	UnreadWrites *int
	// VisibleAfterP50S and VisibleAfterMaxS are the median (nearest rank)
	// and the longest time, over the acknowledged writes present at the
	// end, from the acknowledgement to when the write became visible for
	// good (WriteFate.VisibleAt; 0 when a read that began before the
	// acknowledgement saw it).
	VisibleAfterP50S *float64
	VisibleAfterMaxS *float64
	// GhostVisibleAt is when the first ghost write became visible for good.
	GhostVisibleAt *time.Time `json:",omitempty"`
	// Fates are the lost, vanished and ghost writes in sequence order,
	// the first maxListed of each fate.
	Fates []WriteFate `json:",omitempty"`
}

// Metrics returns the report under drill's metric names, leaving out every
// value that was not measured.
func (r WriterReport) Metrics() map[string]float64 {
	m := map[string]float64{
		"attempts":             float64(r.Attempts),
		"acknowledged":         float64(r.Acknowledged),
		"failed":               float64(r.Failed),
		"indeterminate":        float64(r.Indeterminate),
		"indeterminate_writes": float64(r.Indeterminate),
	}
	put := func(name string, v *float64) {
		if v != nil {
			m[name] = *v
		}
	}
	put("throughput_ops", r.ThroughputOps)
	put("write_rto_s", r.WriteRTOS)
	put("reconnect_s", r.ReconnectS)
	put("visible_after_s_p50", r.VisibleAfterP50S)
	put("visible_after_s_max", r.VisibleAfterMaxS)
	for name, v := range map[string]*int{"lost_writes": r.LostWrites, "ghost_writes": r.GhostWrites,
		"never_committed_writes": r.NeverCommitted, "duplicate_rows": r.DuplicateRows,
		"set_reads": r.SetReads, "set_read_errors": r.SetReadErrors,
		"vanished_writes": r.VanishedWrites, "unread_writes": r.UnreadWrites} {
		if v != nil {
			m[name] = float64(*v)
		}
	}
	return m
}

// Summary returns the report of the attempts and the set reads so far,
// without verification.
func (w *Writer) Summary() WriterReport {
	r := summarize(w.cfg.RunID, w.Attempts())
	if w.set != nil {
		ok, failed, lastErr := w.set.counts()
		r.SetReads, r.SetReadErrors, r.SetReadError = &ok, &failed, lastErr
	}
	return r
}

func summarize(runID string, as []Attempt) WriterReport {
	r := WriterReport{RunID: runID, Attempts: len(as)}
	if len(as) == 0 {
		return r
	}
	r.Start, r.End = as[0].Start, as[len(as)-1].End
	firstBad := -1
	for i, a := range as {
		switch a.Outcome {
		case Acknowledged:
			r.Acknowledged++
		case Failed:
			r.Failed++
		case Indeterminate:
			r.Indeterminate++
		}
		if a.Outcome != Acknowledged && firstBad < 0 {
			firstBad = i
		}
	}
	if d := r.End.Sub(r.Start).Seconds(); d > 0 {
		r.ThroughputOps = ptr(float64(r.Acknowledged) / d)
	}
	if firstBad < 0 {
		return r
	}
	r.OutageOpen = true
	from := as[firstBad].Start
	for _, a := range as[firstBad+1:] {
		if a.Outcome != Acknowledged {
			continue
		}
		if r.WriteRTOS == nil {
			r.WriteRTOS = ptr(a.End.Sub(from).Seconds())
			r.OutageOpen = false
		}
		if a.NewConn && !a.Connected.IsZero() {
			r.ReconnectS = ptr(a.Connected.Sub(from).Seconds())
			break
		}
	}
	return r
}

// Stop stops the writer (waiting for the attempt in flight, at most
// AttemptTimeout, and the set read in flight), then reads back which of
// this run's rows exist on verify (in drill: the current leader) and
// completes the report, with the set reads combined with that final read
// when there were any. If
// verification fails the report is returned with its verification fields
// nil, together with the error. Stop may be called again, e.g. to verify
// on another node.
func (w *Writer) Stop(ctx context.Context, verify Node) (WriterReport, error) {
	if r, err := w.Halt(ctx); err != nil {
		return r, err
	}
	attempts := w.Attempts()
	r := w.Summary()
	present, at, err := readBack(ctx, verify, w.cfg.RunID, int64(len(attempts)))
	if err != nil {
		r.VerifyError = err.Error()
		return r, fmt.Errorf("pg: writer: verify run %s on %s: %w", w.cfg.RunID, verify.Name, err)
	}
	r.VerifiedOn = verify.Name
	r.classify(attempts, present)
	if w.set != nil {
		w.set.combine(&r, attempts, present, at)
	}
	return r, nil
}

// classify sorts every attempt by its outcome and whether its row is
// present (rows[seq] is how many rows seq has on the verification node).
func (r *WriterReport) classify(attempts []Attempt, rows []int) {
	lost, indet, failedPresent, ghost, never, dup := 0, 0, 0, 0, 0, 0
	for _, a := range attempts {
		n := 0
		if a.Seq >= 0 && a.Seq < int64(len(rows)) {
			n = rows[a.Seq]
		}
		if n > 1 {
			dup += n - 1
		}
		switch {
		case a.Outcome == Acknowledged && n == 0:
			lost++
			if len(r.LostSeqs) < maxListed {
				r.LostSeqs = append(r.LostSeqs, a.Seq)
			}
		case a.Outcome == Acknowledged:
		case n == 0:
			never++
		default:
			ghost++
			if len(r.GhostSeqs) < maxListed {
				r.GhostSeqs = append(r.GhostSeqs, a.Seq)
			}
			if a.Outcome == Indeterminate {
				indet++
			} else {
				failedPresent++
			}
		}
	}
	r.LostWrites, r.IndeterminateCommitted, r.FailedButPresent = &lost, &indet, &failedPresent
	r.GhostWrites, r.NeverCommitted, r.DuplicateRows = &ghost, &never, &dup
}

// Halt stops the writer and its set reader (waiting for the attempt in
// flight, at most AttemptTimeout, and the set read in flight, at most
// SetReadTimeout) and returns the report of its attempts, unverified. Stop
// calls it; call it alone when there is nowhere to verify.
func (w *Writer) Halt(ctx context.Context) (WriterReport, error) {
	w.once.Do(func() { close(w.stop) })
	for _, done := range []chan struct{}{w.done, w.setDone} {
		select {
		case <-done:
		case <-ctx.Done():
			return w.Summary(), fmt.Errorf("pg: writer: stop: %w", ctx.Err())
		}
	}
	return w.Summary(), nil
}

// readBack returns, indexed by seq (1..max), how many rows of run n has
// for each sequence number, and when its query was sent.
func readBack(ctx context.Context, n Node, runID string, max int64) ([]int, time.Time, error) {
	present := make([]int, max+1)
	ctx, cancel := withDeadline(ctx, 30*time.Second)
	defer cancel()
	conn, err := connectNode(ctx, n, ConnOptions{})
	if err != nil {
		return nil, time.Time{}, err
	}
	defer closeConn(conn)
	at := time.Now()
	rows, err := conn.Query(ctx, readSet, runID)
	if err != nil {
		return nil, at, err
	}
	var seq int64
	_, err = pgx.ForEachRow(rows, []any{&seq}, func() error {
		if seq >= 1 && seq <= max {
			present[seq]++
		}
		return nil
	})
	return present, at, err
}
