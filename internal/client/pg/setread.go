package pg

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The Writer's set reads (WriterConfig.SetRead), after Jepsen's set-full
// checker: while the writer runs, a second connection through the same
// route reads the whole set of the run's sequence numbers every interval.
// Stop combines what those reads saw with the final read-back to date when
// each write became visible for good, and to find the writes a read saw
// that the final read-back does not have (vanished).

// readSet is one set read: every sequence number of the run, as this route
// sees it now.
const readSet = `SELECT seq FROM drill_writes WHERE run_id = $1`

// MinSetRead is the shortest interval between two set reads.
const MinSetRead = 50 * time.Millisecond

// readSpan is when one successful set read ran: Start just before its
// query was sent, End when its last row had arrived.
type readSpan struct{ Start, End time.Time }

// seqSight is what the set reads saw of one sequence number, as indexes
// into setReads.reads; -1 is none.
type seqSight struct {
	first, last int32 // the first and the last read that saw it
	// since is the first read of the unbroken run of reads that saw it up
	// to the latest read; -1 when the latest read did not see it.
	since int32
}

var unseen = seqSight{first: -1, last: -1, since: -1}

// setReads accumulates the successful set reads and counts the failed
// ones. It keeps one readSpan per successful read and 12 bytes per
// sequence number, never a read's whole set. Safe for concurrent use.
type setReads struct {
	mu      sync.Mutex
	reads   []readSpan
	seqs    []seqSight // indexed by seq; seq 0 is unused
	errors  int
	lastErr string
	cur     []bool // scratch: which seqs the read being observed saw
}

// observe adds a successful read that saw seqs. Sequence numbers outside
// 1..tried (the writer cannot have written them yet: a row put there by
// someone else) are left out.
func (s *setReads) observe(span readSpan, seqs []int64, tried int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := int32(len(s.reads))
	s.reads = append(s.reads, span)
	n := len(s.seqs)
	for _, q := range seqs {
		if q >= 1 && q <= tried && q >= int64(n) {
			n = int(q) + 1
		}
	}
	for len(s.seqs) < n {
		s.seqs = append(s.seqs, unseen)
	}
	s.cur = slices.Grow(s.cur[:0], n)[:n]
	clear(s.cur)
	for _, q := range seqs {
		if q >= 1 && q <= tried {
			s.cur[q] = true
		}
	}
	for q := 1; q < n; q++ {
		st := &s.seqs[q]
		if !s.cur[q] {
			st.since = -1
			continue
		}
		if st.first < 0 {
			st.first = idx
		}
		if st.since < 0 {
			st.since = idx
		}
		st.last = idx
	}
}

// failed counts a read that failed.
func (s *setReads) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors++
	s.lastErr = err.Error()
}

// counts returns the successful and failed reads so far and the last error.
func (s *setReads) counts() (ok, failed int, lastErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reads), s.errors, s.lastErr
}

// sight returns what the reads saw of seq.
func (s *setReads) sight(seq int64) seqSight {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq < 1 || seq >= int64(len(s.seqs)) {
		return unseen
	}
	return s.seqs[seq]
}

// combine completes r with what the reads saw and the final read-back
// that began at final and found rows (see WriterReport.visibility).
func (s *setReads) combine(r *WriterReport, attempts []Attempt, rows []int, final time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.visibility(attempts, rows, s.reads, s.seqs, final)
}

// readSets reads the run's set every SetRead until Stop (or MaxDuration),
// on its own connection, (re)connecting as the writer does. A failed read
// is counted and retried after RetryInterval; it never stops the writer.
func (w *Writer) readSets() {
	defer close(w.setDone)
	var conn *pgx.Conn
	defer func() { closeConn(conn) }()
	begin := time.Now()
	pace := &pacer{next: begin, period: w.cfg.SetRead}
	var buf []int64
	for {
		if !sleepUntil(pace.reserve(), w.stop) || time.Since(begin) > w.cfg.MaxDuration {
			return
		}
		span, seqs, err := w.readSet(&conn, buf[:0])
		if err != nil {
			w.set.failed(err)
			pace.notBefore(time.Now().Add(w.cfg.RetryInterval))
			continue
		}
		buf = seqs
		w.set.observe(span, seqs, w.tried())
	}
}

// readSet reads the set once into buf, (re)connecting first if *conn is
// nil. After any error it closes the connection.
func (w *Writer) readSet(conn **pgx.Conn, buf []int64) (readSpan, []int64, error) {
	if *conn == nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.ConnectTimeout)
		c, err := connect(ctx, w.cfg.DSN, w.cfg.connOptions())
		cancel()
		if err != nil {
			return readSpan{}, nil, fmt.Errorf("connect: %w", err)
		}
		*conn = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.SetReadTimeout)
	defer cancel()
	span := readSpan{Start: time.Now()}
	rows, err := (*conn).Query(ctx, readSet, w.cfg.RunID)
	if err == nil {
		var seq int64
		_, err = pgx.ForEachRow(rows, []any{&seq}, func() error {
			buf = append(buf, seq)
			return nil
		})
	}
	span.End = time.Now()
	if err != nil {
		closeConn(*conn)
		*conn = nil
		return readSpan{}, nil, err
	}
	return span, buf, nil
}

// The fates of the writes a WriterReport lists in Fates.
const (
	// FateLost: acknowledged, missing at the end, and no set read saw it.
	FateLost = "lost"
	// FateVanished: a set read saw it, and it is missing at the end: seen,
	// then lost. Lost too when it was acknowledged.
	FateVanished = "vanished"
	// FateGhost: the client saw it fail, and it is present at the end.
	FateGhost = "ghost"
)

// WriteFate is one notable write as the set reads and the final read-back
// saw it. Times absent here were not observed.
type WriteFate struct {
	Seq     int64
	Fate    string // FateLost, FateVanished or FateGhost
	Outcome Outcome
	// AcknowledgedAt is when its acknowledgement arrived.
	AcknowledgedAt *time.Time `json:",omitempty"`
	// VisibleAt (present at the end) is when it became visible for good:
	// the start of the first set read from which every later set read and
	// the final read-back saw it, but not before its attempt began.
	VisibleAt *time.Time `json:",omitempty"`
	// FirstSeenAt and LastSeenAt are the starts of the first and the last
	// set read that saw it, but not before its attempt began (a read's
	// snapshot is taken after it starts).
	FirstSeenAt *time.Time `json:",omitempty"`
	LastSeenAt  *time.Time `json:",omitempty"`
}

// visibility completes the report with what the set reads saw, combined
// with the final read-back that began at final and found rows (rows[seq]
// rows for seq). Without a successful set read it records nothing.
func (r *WriterReport) visibility(attempts []Attempt, rows []int, reads []readSpan, seqs []seqSight, final time.Time) {
	if len(reads) == 0 {
		return
	}
	vanished, unread, listed := 0, 0, map[string]int{}
	var after []float64
	var ghostAt *time.Time
	// seenAt is the start of read i, not before a began.
	seenAt := func(i int32, a Attempt) *time.Time {
		if i < 0 {
			return nil
		}
		if t := reads[i].Start; t.After(a.Start) {
			return &t
		}
		return ptr(a.Start)
	}
	for _, a := range attempts {
		st := unseen
		if a.Seq >= 1 && a.Seq < int64(len(seqs)) {
			st = seqs[a.Seq]
		}
		present := a.Seq >= 0 && a.Seq < int64(len(rows)) && rows[a.Seq] > 0
		f := WriteFate{Seq: a.Seq, Outcome: a.Outcome, FirstSeenAt: seenAt(st.first, a), LastSeenAt: seenAt(st.last, a)}
		if a.Outcome == Acknowledged {
			f.AcknowledgedAt = ptr(a.End)
		}
		switch {
		case present:
			visible := final
			if st.since >= 0 {
				visible = reads[st.since].Start
			}
			if visible.Before(a.Start) {
				visible = a.Start
			}
			if st.first < 0 {
				unread++
			}
			if a.Outcome == Acknowledged {
				after = append(after, max(visible.Sub(a.End), 0).Seconds())
				continue
			}
			f.Fate, f.VisibleAt = FateGhost, &visible
			if ghostAt == nil || visible.Before(*ghostAt) {
				ghostAt = &visible
			}
		case st.first >= 0:
			vanished++
			f.Fate = FateVanished
		case a.Outcome == Acknowledged:
			f.Fate = FateLost
		default:
			continue
		}
		if listed[f.Fate] < maxListed {
			listed[f.Fate]++
			r.Fates = append(r.Fates, f)
		}
	}
	r.VanishedWrites, r.UnreadWrites, r.GhostVisibleAt = &vanished, &unread, ghostAt
	if len(after) > 0 {
		slices.Sort(after)
		r.VisibleAfterP50S = ptr(after[(len(after)+1)/2-1])
		r.VisibleAfterMaxS = ptr(after[len(after)-1])
	}
}
