package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// InsertConfig configures InsertLoop.
type InsertConfig struct {
	DSN string
	// SQL is one statement with parameters $1..$n, e.g.
	// "INSERT INTO files (id, filename, file_size) VALUES ($1, $2, $3)".
	SQL string
	// Args names the generator of each parameter ($i takes Args[i-1]); see
	// parseArg for the list. Nil: $1 is the row number, the rest random
	// values of their types.
	Args []string
	// Rows stops the loop after rows 1..Rows were each tried once; Duration
	// stops sending new rows after that long. At least one is required;
	// with both, whichever comes first.
	Rows     int64
	Duration time.Duration
	// Clients is the number of connections (default 1).
	Clients int
	// Pipeline is the number of statements each connection keeps in flight
	// (default 32; 1 waits for every row). Each statement is followed by
	// its own Sync, so each row is its own implicit transaction, committed
	// and acknowledged on its own: pipelining saves round trips, not commits.
	// With pipelining the client also reads results in batches (see
	// napConn), halving its CPU per row: it shares the CPUs with the
	// server it loads.
	Pipeline int
	// ConnectTimeout bounds each connection (default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// RunID is the prefix of the "id" generator (default: random).
	RunID string
	// Logger receives reconnect lines (default slog.Default()).
	Logger *slog.Logger
}

// InsertReport is what InsertLoop measured.
type InsertReport struct {
	RunID    string
	Clients  int
	Pipeline int
	// Rows counts acknowledged rows; Errors rows that failed, including the
	// rows in flight when a connection broke (their outcome is unknown).
	Rows         int64
	Errors       int64
	ErrorSamples []string `json:",omitempty"` // up to 5 distinct messages
	Reconnects   int
	// Elapsed runs from the first row sent (all connections established and
	// prepared) to the last answer received.
	Elapsed time.Duration
	// OpsPerSec is Rows / Elapsed; nil when nothing ran.
	OpsPerSec *float64
	// Latency is from queueing a row to its acknowledgement (with
	// pipelining, that includes waiting behind the rows ahead of it).
	// Nil when no row was acknowledged.
	LatencyP50 *time.Duration
	LatencyP99 *time.Duration
	// Buckets count the rows per BucketWidth by when their answer came,
	// for the report's timeline.
	Buckets Buckets
}

// BucketWidth is the width of InsertReport.Buckets.
const BucketWidth = 100 * time.Millisecond

// Buckets count rows per Width from Start by when each ended: its
// acknowledgement, its error, or the break of its connection (then its
// outcome is unknown: Indeterminate). The slices have the same length.
type Buckets struct {
	Start                               time.Time
	Width                               time.Duration
	Acknowledged, Failed, Indeterminate []int
}

// add counts n rows that ended at t into one of the slices of b.
func (b *Buckets) add(which *[]int, t time.Time, n int) {
	i := int(max(t.Sub(b.Start), 0) / b.Width)
	for len(*which) <= i {
		*which = append(*which, 0)
	}
	(*which)[i] += n
}

// merge adds o's counts (same Start and Width) to b, and makes the three
// slices the same length.
func (b *Buckets) merge(o Buckets) {
	for _, p := range []struct{ dst, src *[]int }{{&b.Acknowledged, &o.Acknowledged}, {&b.Failed, &o.Failed}, {&b.Indeterminate, &o.Indeterminate}} {
		for i, n := range *p.src {
			for len(*p.dst) <= i {
				*p.dst = append(*p.dst, 0)
			}
			(*p.dst)[i] += n
		}
	}
	n := max(len(b.Acknowledged), len(b.Failed), len(b.Indeterminate))
	for _, s := range []*[]int{&b.Acknowledged, &b.Failed, &b.Indeterminate} {
		for len(*s) < n {
			*s = append(*s, 0)
		}
	}
}

// Metrics returns the report under drill's metric names, leaving out every
// value that was not measured.
func (r InsertReport) Metrics() map[string]float64 {
	m := map[string]float64{"rows": float64(r.Rows), "errors": float64(r.Errors)}
	if r.OpsPerSec != nil {
		m["insert_ops"] = *r.OpsPerSec
	}
	if r.LatencyP50 != nil {
		m["latency_p50_ms"] = float64(*r.LatencyP50) / float64(time.Millisecond)
	}
	if r.LatencyP99 != nil {
		m["latency_p99_ms"] = float64(*r.LatencyP99) / float64(time.Millisecond)
	}
	return m
}

const insertStmt = "drill_insert"

// InsertLoop inserts rows through Clients connections, each row its own
// autocommitted statement, and reports rows, errors, rows/s and latency
// quantiles (1% resolution). A failing row does not stop the loop; a
// broken connection is re-established every 100 ms until the loop ends.
// The error is non-nil when the loop could not start (bad configuration,
// no connection, statement rejected) or ctx ended it early; the report
// then holds what was measured.
func InsertLoop(ctx context.Context, cfg InsertConfig) (InsertReport, error) {
	if cfg.SQL == "" {
		return InsertReport{}, errors.New("pg: insert loop: no SQL statement")
	}
	if cfg.Rows <= 0 && cfg.Duration <= 0 {
		return InsertReport{}, errors.New("pg: insert loop: set Rows or Duration")
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 1
	}
	if cfg.Pipeline <= 0 {
		cfg.Pipeline = 32
	}
	if cfg.RunID == "" {
		cfg.RunID = newID("ins-")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	sh := &insertShared{cfg: cfg, limit: cfg.Rows}
	clients := make([]*inserter, cfg.Clients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				closeConn(c.conn)
			}
		}
	}()
	for i := range clients {
		c := &inserter{sh: sh, hist: newHistogram(), rnd: rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))}
		if err := c.connect(ctx); err != nil {
			return InsertReport{}, fmt.Errorf("pg: insert loop: client %d: %w", i+1, err)
		}
		if sh.gens == nil {
			if err := sh.setGenerators(c.paramOIDs); err != nil {
				return InsertReport{}, fmt.Errorf("pg: insert loop: %w", err)
			}
		}
		c.params = make([][]byte, len(sh.gens))
		c.bufs = make([][]byte, len(sh.gens))
		for j := range c.bufs {
			c.bufs[j] = make([]byte, 0, 64)
		}
		clients[i] = c
	}

	start := time.Now()
	if cfg.Duration > 0 {
		sh.deadline = start.Add(cfg.Duration)
	}
	for _, c := range clients {
		c.buckets = Buckets{Start: start, Width: BucketWidth}
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := InsertReport{RunID: cfg.RunID, Clients: cfg.Clients, Pipeline: cfg.Pipeline, Elapsed: elapsed,
		Buckets: Buckets{Start: start, Width: BucketWidth}}
	hist := newHistogram()
	for _, c := range clients {
		r.Buckets.merge(c.buckets)
		r.Rows += c.rows
		r.Errors += c.errors
		r.Reconnects += c.reconnects
		hist.merge(c.hist)
	}
	r.ErrorSamples = sh.samples
	if elapsed > 0 {
		r.OpsPerSec = ptr(float64(r.Rows) / elapsed.Seconds())
	}
	if d, ok := hist.quantile(0.50); ok {
		r.LatencyP50 = &d
	}
	if d, ok := hist.quantile(0.99); ok {
		r.LatencyP99 = &d
	}
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("pg: insert loop ended early: %w", err)
	}
	return r, nil
}

// insertShared is the state all clients of one loop share.
type insertShared struct {
	cfg      InsertConfig
	limit    int64
	deadline time.Time
	next     atomic.Int64
	gens     []argGen

	mu      sync.Mutex
	samples []string
}

func (s *insertShared) setGenerators(oids []uint32) error {
	if s.cfg.Args != nil && len(s.cfg.Args) != len(oids) {
		return fmt.Errorf("the statement has %d parameters but %d Args are given", len(oids), len(s.cfg.Args))
	}
	gens := make([]argGen, len(oids))
	for i, oid := range oids {
		var err error
		if s.cfg.Args != nil {
			gens[i], err = parseArg(s.cfg.Args[i], s.cfg.RunID)
		} else {
			gens[i], err = inferArg(i, oid, s.cfg.RunID)
		}
		if err != nil {
			return err
		}
	}
	s.gens = gens
	return nil
}

// nextRow hands out the next row number, or false when the loop is over.
func (s *insertShared) nextRow(ctx context.Context) (int64, bool) {
	if ctx.Err() != nil || (!s.deadline.IsZero() && !time.Now().Before(s.deadline)) {
		return 0, false
	}
	n := s.next.Add(1)
	if s.limit > 0 && n > s.limit {
		return 0, false
	}
	return n, true
}

func (s *insertShared) over(ctx context.Context) bool {
	return ctx.Err() != nil || (!s.deadline.IsZero() && !time.Now().Before(s.deadline)) ||
		(s.limit > 0 && s.next.Load() >= s.limit)
}

func (s *insertShared) sample(err error) {
	msg := err.Error()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) >= 5 {
		return
	}
	for _, m := range s.samples {
		if m == msg {
			return
		}
	}
	s.samples = append(s.samples, msg)
}

// inserter is one client connection of an insert loop.
type inserter struct {
	sh         *insertShared
	conn       *pgx.Conn
	paramOIDs  []uint32
	params     [][]byte
	bufs       [][]byte
	rnd        *rand.Rand
	hist       *histogram
	sent       []time.Time // queue times of the rows in flight, oldest first
	sentBuf    []time.Time // backing array of sent, Pipeline long
	rows       int64
	errors     int64
	reconnects int
	buckets    Buckets // this client's rows per bucket

	nc   *napConn    // the connection's socket when napping is on
	done []time.Time // completion times of the last napWindow rows (a ring)
	di   int
}

// napWindow is how many completions the row-time estimate averages over.
const napWindow = 16

// napConn delays a read that would wait for the server by the hint the
// inserter left, so that results accumulate and one wake-up handles many
// rows. The inserter sets the hint so that at least half of the rows in
// flight are still queued at the server when it wakes: the server never
// runs dry, and the client, which shares the CPUs with the server it
// loads, wakes up once per batch instead of once per row.
type napConn struct {
	net.Conn
	nap atomic.Int64 // nanoseconds
}

func (c *napConn) Read(p []byte) (int, error) {
	if d := time.Duration(c.nap.Swap(0)); d > 0 {
		time.Sleep(d)
	}
	return c.Conn.Read(p)
}

// completed records a row's completion and updates the nap hint.
func (c *inserter) completed(now time.Time) {
	if c.nc == nil {
		return
	}
	if c.done == nil {
		c.done = make([]time.Time, napWindow)
	}
	oldest := c.done[c.di]
	c.done[c.di] = now
	c.di = (c.di + 1) % napWindow
	inflight := len(c.sent) - 1 // this row is still counted
	if oldest.IsZero() || inflight < 4 {
		c.nc.nap.Store(0)
		return
	}
	perRow := now.Sub(oldest) / napWindow
	c.nc.nap.Store(int64(min(perRow*time.Duration(inflight)/2, 5*time.Millisecond)))
}

// connect opens the connection and prepares the statement.
func (c *inserter) connect(ctx context.Context) error {
	o := ConnOptions{ConnectTimeout: c.sh.cfg.ConnectTimeout}
	if c.sh.cfg.Pipeline > 1 {
		o.wrap = func(nc net.Conn) net.Conn {
			c.nc = &napConn{Conn: nc}
			return c.nc
		}
	}
	conn, err := connect(ctx, c.sh.cfg.DSN, o)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	pctx, cancel := withDeadline(ctx, DefaultQueryTimeout)
	defer cancel()
	sd, err := conn.PgConn().Prepare(pctx, insertStmt, c.sh.cfg.SQL, nil)
	if err != nil {
		closeConn(conn)
		return fmt.Errorf("prepare %q: %w", c.sh.cfg.SQL, err)
	}
	c.conn, c.paramOIDs = conn, sd.ParamOIDs
	return nil
}

func (c *inserter) run(ctx context.Context) {
	for !c.sh.over(ctx) {
		if c.conn == nil {
			if err := c.connect(ctx); err != nil {
				c.sh.sample(err)
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			c.reconnects++
			c.sh.cfg.Logger.InfoContext(ctx, "pg: insert loop: reconnected")
		}
		if err := c.pipeline(ctx); err != nil {
			c.sh.sample(err)
			closeConn(c.conn)
			c.conn = nil
		}
	}
}

// pipeline keeps up to Pipeline rows in flight on the connection until the
// loop is over. A non-nil error means the connection broke; the rows then
// in flight are counted as errors.
func (c *inserter) pipeline(ctx context.Context) (err error) {
	window := c.sh.cfg.Pipeline
	p := c.conn.PgConn().StartPipeline(ctx)
	if cap(c.sentBuf) < window {
		c.sentBuf = make([]time.Time, 0, window)
	}
	c.sent = c.sentBuf[:0]
	defer func() {
		if err != nil {
			c.errors += int64(len(c.sent))
			c.buckets.add(&c.buckets.Indeterminate, time.Now(), len(c.sent))
			c.sent = c.sent[:0]
			return
		}
		err = p.Close()
	}()
	more := true
	fill := func() error {
		for more && len(c.sent) < window {
			row, ok := c.sh.nextRow(ctx)
			if !ok {
				more = false
				break
			}
			for i, gen := range c.sh.gens {
				v := gen(c.bufs[i][:0], row, c.rnd)
				if v != nil {
					c.bufs[i] = v
				}
				c.params[i] = v
			}
			p.SendQueryPrepared(insertStmt, c.params, nil, nil)
			p.SendPipelineSync()
			c.sent = append(c.sent, time.Now())
		}
		return p.Flush()
	}
	if err := fill(); err != nil {
		return err
	}
	for len(c.sent) > 0 {
		res, err := p.GetResults()
		if err == nil {
			rr, ok := res.(*pgconn.ResultReader)
			if !ok {
				return fmt.Errorf("pipeline: got %T, want a statement result", res)
			}
			_, err = rr.Close()
		}
		switch {
		case err == nil:
			c.rows++
			now := time.Now()
			c.hist.record(now.Sub(c.sent[0]))
			c.completed(now)
			c.buckets.add(&c.buckets.Acknowledged, now, 1)
		case isPgError(err):
			c.errors++
			c.buckets.add(&c.buckets.Failed, time.Now(), 1)
			c.sh.sample(err)
		default:
			return err
		}
		res, err = p.GetResults()
		if err != nil {
			return err
		}
		if _, ok := res.(*pgconn.PipelineSync); !ok {
			return fmt.Errorf("pipeline: got %T, want the end of a statement", res)
		}
		c.sent = c.sent[1:]
		if more && len(c.sent) <= window/2 {
			c.sent = append(c.sentBuf[:0], c.sent...) // move to the front before refilling
			if err := fill(); err != nil {
				return err
			}
		}
	}
	return nil
}

func isPgError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}
