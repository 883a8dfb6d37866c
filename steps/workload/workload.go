package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/drill-dev/drill/internal/client/pg"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/timeline"
	"github.com/drill-dev/drill/steps"
)

// The workload kinds: an insert loop, a background writer across a fault,
// and a background split-brain watcher.

// seedInsert is the seed's Scenario 4 statement.
const seedInsert = "INSERT INTO files (id, filename, original_name, file_size, mime_type, primary_node, expires_at) " +
	"VALUES ($1, $2, $2, 1000, 'text/plain', 'node1', now() + interval '1 day')"

func init() {
	steps.Register(steps.Kind{
		Name:    "sql.insert_loop",
		Summary: "insert rows as fast as the server takes them, with concurrency",
		Doc: "Inserts rows (or for a duration) through clients connections, each row its own acknowledged " +
			"transaction (pipelined, pipeline statements in flight per connection). The default statement is the " +
			"seed's Scenario 4 insert into files, with a unique id per row. args name the generator of each $n " +
			"(see internal/client/pg: row, id, text, int, ...).",
		Example: "kind: sql.insert_loop\non: leader\nrows: 1000\nclients: 8",
		New: func() steps.Step {
			return &InsertLoop{On: steps.RoleLeader, SQL: seedInsert, Args: []string{"id", "text:12"}, Clients: 1, Pipeline: 32}
		},
		Timeout: 10 * time.Minute,
		Metrics: []metric.Spec{
			{Name: "rows", Type: metric.Number, Doc: "rows inserted and acknowledged"},
			{Name: "errors", Type: metric.Number, Doc: "rows that failed"},
			{Name: "insert_ops", Type: metric.Number, Doc: "acknowledged rows per second"},
			{Name: "latency_p50_ms", Type: metric.Number, Doc: "median time from sending a row to its acknowledgement", Resolution: "1% quantile buckets"},
			{Name: "latency_p99_ms", Type: metric.Number, Doc: "99th percentile of the same", Resolution: "1% quantile buckets"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "writer.start",
		Summary: "start a background writer that inserts sequence-numbered rows across the fault",
		Doc: "Writes one row per attempt through on (default the pooled endpoint), at rate attempts per second (0: as " +
			"fast as one connection can), reconnecting after failures. Every attempt is recorded with its outcome: " +
			"acknowledged, failed, or indeterminate (the connection was lost while committing). With set_read, a second " +
			"connection through the same route reads the whole set of the run's rows (SELECT seq FROM drill_writes WHERE " +
			"run_id = ...) every set_read, so that writer.stop can say when each write became visible for good and which " +
			"writes a read saw that are gone at the end (Jepsen's set-full checker); a failed set read is counted, not fatal. " +
			"Each set read returns every row the run has written so far. Stop it with writer.stop.",
		Example: "kind: writer.start\nrate: 50",
		New:     func() steps.Step { return &WriterStart{Name: "writer", On: steps.OnPooled, Rate: 50} },
		Timeout: 30 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "writer.stop",
		Summary: "stop the writer and count what survived on the current leader",
		Doc: "Stops the writer, reads back this run's rows on verify_on (default the current leader) and computes " +
			"lost_writes (acknowledged but missing), ghost_writes (failed for the client but committed), " +
			"never_committed_writes, the outage as the client saw it and the reconnection time. When writer.start had " +
			"set_read and a set read returned, it combines the set reads with that final read-back: vanished_writes, " +
			"unread_writes, visible_after_s_p50/max and ghost_visible_at (not recorded when the read-back failed), and it " +
			"logs each lost, vanished and ghost write with when it was acknowledged and seen.",
		Example: "kind: writer.stop",
		New:     func() steps.Step { return &WriterStop{Name: "writer", VerifyOn: steps.RoleLeader} },
		Timeout: time.Minute,
		Metrics: []metric.Spec{
			{Name: "attempts", Type: metric.Number, Doc: "writes tried"},
			{Name: "acknowledged", Type: metric.Number, Doc: "writes whose commit was acknowledged"},
			{Name: "failed", Type: metric.Number, Doc: "writes that definitely did not commit"},
			{Name: "indeterminate_writes", Type: metric.Number, Doc: "writes whose connection was lost while committing: outcome unknown"},
			{Name: "lost_writes", Type: metric.Number, Doc: "acknowledged writes missing on the verification node (RPO, in rows)"},
			{Name: "ghost_writes", Type: metric.Number, Doc: "writes the client saw fail (indeterminate or failed) whose row is there: committed despite the error"},
			{Name: "never_committed_writes", Type: metric.Number, Doc: "writes the client saw fail whose row is missing"},
			{Name: "duplicate_rows", Type: metric.Number, Doc: "rows beyond the first for one sequence number (0 unless the table lacks its (run_id, seq) key and something replayed a statement)"},
			{Name: "write_rto_s", Type: metric.Number, Doc: "the outage as the client saw it: first failed write to the first acknowledged one after it", Resolution: "the write interval (1/rate)"},
			{Name: "reconnect_s", Type: metric.Number, Doc: "first failed write to the first new connection that worked", Resolution: "the retry interval (100 ms)"},
			{Name: "throughput_ops", Type: metric.Number, Doc: "acknowledged writes per second"},
			{Name: "max_ack_gap_s", Type: metric.Number, Doc: "the longest time between two consecutive acknowledgements: how long clients' writes stalled, whether they failed or hung; a stall still going on when the writer stopped counts from the last acknowledgement to the end of the last attempt", Resolution: "the write interval (1/rate)"},
			{Name: "ack_gap_ended_at", Type: metric.Time, Doc: "the acknowledgement that ended that longest gap (not recorded when it was still open at writer.stop)"},
			{Name: "outage_started_at", Type: metric.Time, Doc: "start of the first write that was not acknowledged"},
			{Name: "writes_resumed_at", Type: metric.Time, Doc: "end of the first acknowledged write after the outage: seconds(writes_resumed_at - leader_seen_at) is how long clients waited once the new leader was up"},
			{Name: "set_reads", Type: metric.Number, Doc: "set_read: set reads that returned (recorded whenever set_read was on)"},
			{Name: "set_read_errors", Type: metric.Number, Doc: "set_read: set reads that failed, or whose connection could not be made (not fatal: the next one reconnects)"},
			{Name: "vanished_writes", Type: metric.Number, Doc: "set_read: writes a set read saw that are missing on the verification node: seen, then lost (e.g. rows of an old leader rewound away); the acknowledged ones are in lost_writes too"},
			{Name: "unread_writes", Type: metric.Number, Doc: "set_read: writes present on the verification node that no set read saw (normally those of the last interval before writer.stop)"},
			{Name: "visible_after_s_p50", Type: metric.Number, Doc: "set_read: median (nearest rank), over the acknowledged writes present on the verification node, of the time from the acknowledgement to stable visibility: the start of the first set read from which every later set read and the final read-back saw the row (0 when a read that began before the acknowledgement saw it)", Resolution: "the set_read interval (longer while set reads fail)"},
			{Name: "visible_after_s_max", Type: metric.Number, Doc: "set_read: the longest of the same", Resolution: "the set_read interval (longer while set reads fail)"},
			{Name: "ghost_visible_at", Type: metric.Time, Doc: "set_read: when the first ghost write (failed for the client, present at the end) became visible for good, the same way (not recorded without a ghost write)", Resolution: "the set_read interval"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "watch.split_brain",
		Summary: "start watching every member for writes accepted by more than one primary",
		Doc: "Polls every member directly (its DSN in the cluster block) every interval: pg_is_in_recovery() and whether " +
			"a write is accepted. A frozen member is 'unknown' until it answers; a resumed old leader that still takes a " +
			"write is seen. Stop it with watch.stop.",
		Example: "kind: watch.split_brain\ninterval: 200ms",
		New: func() steps.Step {
			return &WatchStart{Name: "split_brain", Members: "all", Interval: 200 * time.Millisecond}
		},
		Timeout: 30 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "watch.lag",
		Summary: "start sampling replication lag on the leader in the background",
		Doc:     "Reads pg_stat_replication on the leader every interval, e.g. during a load, until watch.stop records the peak.",
		Example: "kind: watch.lag\nwatcher: lag\ninterval: 250ms",
		New: func() steps.Step {
			return &WatchLag{Name: "lag", On: steps.RoleLeader, Interval: 250 * time.Millisecond}
		},
		Timeout: 30 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "watch.stop",
		Summary: "stop a watcher (split brain or lag) and record what it saw",
		Example: "kind: watch.stop\nwatcher: split_brain",
		New:     func() steps.Step { return &WatchStop{Name: "split_brain"} },
		Timeout: 2 * time.Minute,
		Metrics: []metric.Spec{
			{Name: "max_primaries", Type: metric.Number, Doc: "split_brain: the most members accepting writes at one instant", Resolution: "the watch interval (200 ms by default)"},
			{Name: "split_brain_s", Type: metric.Number, Doc: "split_brain: seconds during which more than one member accepted writes", Resolution: "the watch interval"},
			{Name: "member_last_write_at", Type: metric.Time, Doc: "split_brain with member: the last time that member committed a probe write", Resolution: "the watch interval"},
			{Name: "peak_lag_mb", Type: metric.Number, Doc: "lag: the largest replay lag seen, MiB", Resolution: "the watch interval"},
			{Name: "lag_samples", Type: metric.Number, Doc: "lag: how many samples were read"},
		},
	})
}

// InsertLoop runs the insert load.
type InsertLoop struct {
	On       string        `yaml:"on" target:"sql" doc:"where to insert (one node): leader, pooled, member:NAME, a service"`
	DSN      string        `yaml:"dsn" doc:"insert here instead"`
	SQL      string        `yaml:"sql" doc:"the INSERT, with $1, $2... filled by args"`
	Args     []string      `yaml:"args" doc:"generator of each parameter, row, id, int[:MIN:MAX], float, text[:N], uuid, bool, now, null or const:VALUE, e.g. [id, text:12]"`
	Rows     int64         `yaml:"rows" doc:"rows to insert"`
	Duration time.Duration `yaml:"duration" doc:"or insert for this long"`
	Clients  int           `yaml:"clients" doc:"concurrent connections"`
	Pipeline int           `yaml:"pipeline" doc:"statements in flight per connection (1: wait for each)"`
}

// Validate checks the sizes.
func (l *InsertLoop) Validate() error {
	switch {
	case l.Rows <= 0 && l.Duration <= 0:
		return steps.FieldErrorf("rows", "give rows or duration")
	case l.Clients < 1 || l.Clients > 256:
		return steps.FieldErrorf("clients", "must be from 1 to 256")
	case l.Pipeline < 1:
		return steps.FieldErrorf("pipeline", "must be at least 1")
	}
	return steps.ValidateOn(l.On, l.DSN)
}

// Run inserts and records the rates.
func (l *InsertLoop) Run(ctx context.Context, env *steps.Env) error {
	n, err := env.Node(ctx, l.On, l.DSN)
	if err != nil {
		return err
	}
	rep, err := env.Ports.SQL.InsertLoop(ctx, pg.InsertConfig{DSN: n.DSN, SQL: l.SQL, Args: l.Args, Rows: l.Rows, Duration: l.Duration,
		Clients: l.Clients, Pipeline: l.Pipeline, Logger: env.Logger})
	env.Logf("%d rows, %d errors in %s on %s (%d clients, pipeline %d)", rep.Rows, rep.Errors, rep.Elapsed.Round(time.Millisecond), n.Name, rep.Clients, rep.Pipeline)
	for _, e := range rep.ErrorSamples {
		env.Logf("error: %s", e)
	}
	if len(rep.Buckets.Acknowledged) > 0 {
		bk := rep.Buckets
		env.Timeline.AddWrites(timeline.Writes{Writer: "insert loop " + stepLabel(env), Step: env.Step.Key, Start: bk.Start, BucketMS: bk.Width.Milliseconds(),
			Acknowledged: bk.Acknowledged, Failed: bk.Failed, Indeterminate: bk.Indeterminate})
	}
	if rerr := recordFloats(env, rep.Metrics()); rerr != nil {
		return rerr
	}
	return err
}

// stepLabel names the running step for the timeline: its id, or its name.
func stepLabel(env *steps.Env) string {
	if env.Step.Key != "" {
		return env.Step.Key
	}
	return env.Step.Spec.Name
}

// recordFloats records a measurement map (only what was measured is in it).
func recordFloats(env *steps.Env, m map[string]float64) error {
	for name, v := range m {
		if err := env.Record(name, v); err != nil {
			return err
		}
	}
	return nil
}

// WriterStart starts a background writer.
type WriterStart struct {
	Name           string        `yaml:"writer" doc:"name of this writer, for writer.stop"`
	On             string        `yaml:"on" target:"sql" doc:"where to write (one node): pooled, leader, member:NAME, a service"`
	DSN            string        `yaml:"dsn" doc:"write here instead"`
	Rate           float64       `yaml:"rate" doc:"attempts per second (0: as fast as one connection can)"`
	AttemptTimeout time.Duration `yaml:"attempt_timeout" doc:"limit of one INSERT and its commit (an attempt that runs out is indeterminate)"`
	SetRead        time.Duration `yaml:"set_read" doc:"read the whole set of the run's rows through the same route this often (at least 50ms; absent or 0: no set reads), for writer.stop's visibility metrics"`
}

// Validate checks the rate, the set-read interval and the target.
func (w *WriterStart) Validate() error {
	switch {
	case w.Rate < 0:
		return steps.FieldErrorf("rate", "must not be negative")
	case w.SetRead != 0 && w.SetRead < pg.MinSetRead:
		return steps.FieldErrorf("set_read", "must be at least %s (or 0: no set reads)", pg.MinSetRead)
	}
	return steps.ValidateOn(w.On, w.DSN)
}

// Starts names the writer for writer.stop.
func (w *WriterStart) Starts() (string, string) { return steps.RefWriter, w.Name }

// writerTask is a running writer.
type writerTask struct {
	w    *pg.Writer
	name string
	tl   *timeline.Recorder
}

// Close stops a writer no writer.stop stopped; there is nothing to verify
// for a scenario that never got there, but its writes still go on the
// timeline.
func (t writerTask) Close(ctx context.Context) error {
	_, err := t.w.Stop(ctx, pg.Node{})
	t.tl.AddWrites(writeBuckets(t.name, "", t.w.Attempts()))
	if ctx.Err() != nil {
		return err
	}
	return nil
}

// WriteBucket is the width of the buckets a writer's attempts are counted
// in for the report's timeline.
const WriteBucket = 100 * time.Millisecond

// writeBuckets counts a writer's attempts per WriteBucket by the time each
// ended, from the start of the first. The writer keeps every attempt in
// memory anyway, so this costs nothing while it writes.
func writeBuckets(name, step string, as []pg.Attempt) timeline.Writes {
	if len(as) == 0 {
		return timeline.Writes{Writer: name, Step: step, BucketMS: WriteBucket.Milliseconds()}
	}
	ends := make([]time.Time, len(as))
	outcomes := make([]timeline.Outcome, len(as))
	for i, a := range as {
		ends[i] = a.End
		switch a.Outcome {
		case pg.Acknowledged:
			outcomes[i] = timeline.Acknowledged
		case pg.Failed:
			outcomes[i] = timeline.Failed
		default:
			outcomes[i] = timeline.Indeterminate
		}
	}
	w := timeline.Bucket(name, as[0].Start, WriteBucket, ends, outcomes)
	w.Step = step
	return w
}

// Run starts the writer in the background.
func (w *WriterStart) Run(ctx context.Context, env *steps.Env) error {
	n, err := env.Node(ctx, w.On, w.DSN)
	if err != nil {
		return err
	}
	// The writer outlives this step: it stops at writer.stop or at the end
	// of the scenario, not when this step's context ends.
	setup, cancel := setupContext(ctx)
	defer cancel()
	wr, err := env.Ports.SQL.StartWriter(setup, pg.WriterConfig{DSN: n.DSN, Rate: w.Rate, AttemptTimeout: w.AttemptTimeout,
		SetRead: w.SetRead, LoopConfig: pg.LoopConfig{Logger: env.Logger}})
	if err != nil {
		return err
	}
	env.Logf("writer %s (run %s) writing through %s at %v/s", w.Name, wr.RunID(), n.Name, w.Rate)
	if w.SetRead > 0 {
		env.Logf("reading the run's set through %s every %s", n.Name, w.SetRead)
	}
	return env.Background.Start(w.Name, writerTask{w: wr, name: w.Name, tl: env.Timeline})
}

// WriterStop stops a writer and records its accounting.
type WriterStop struct {
	Name      string `yaml:"writer" doc:"the writer to stop"`
	VerifyOn  string `yaml:"verify_on" target:"sql" doc:"where to count the surviving rows (default: the leader now)"`
	VerifyDSN string `yaml:"verify_dsn" doc:"count them here instead"`
}

// Validate checks the target.
func (w *WriterStop) Validate() error {
	if w.VerifyDSN == "" {
		return steps.ValidateTarget("verify_on", w.VerifyOn)
	}
	return nil
}

// References names the writer to stop.
func (w *WriterStop) References() []steps.Reference {
	return []steps.Reference{{Field: "writer", What: steps.RefWriter, Name: w.Name}}
}

// Stops names the writer: after an early stop the runner still runs this
// step, to count what was lost.
func (w *WriterStop) Stops() (string, string) { return steps.RefWriter, w.Name }

// Run stops the writer and records.
func (w *WriterStop) Run(ctx context.Context, env *steps.Env) error {
	t, err := env.Background.Take(w.Name)
	if err != nil {
		return err
	}
	wt, ok := t.(writerTask)
	if !ok {
		return fmt.Errorf("%q is not a writer", w.Name)
	}
	rep, err, verr := w.stop(ctx, env, wt)
	env.Logf("%d attempts: %d acknowledged, %d failed, %d indeterminate; verified on %s", rep.Attempts, rep.Acknowledged, rep.Failed, rep.Indeterminate, rep.VerifiedOn)
	if rep.LostWrites != nil && *rep.LostWrites > 0 {
		env.Logf("lost acknowledged writes (seq): %v", rep.LostSeqs)
	}
	if rep.GhostWrites != nil && *rep.GhostWrites > 0 {
		env.Logf("writes that failed for the client but committed (seq): %v", rep.GhostSeqs)
	}
	if rep.FailedButPresent != nil && *rep.FailedButPresent > 0 {
		env.Logf("warning: %d writes classified failed are present", *rep.FailedButPresent)
	}
	if rep.OutageOpen {
		env.Logf("the outage had not ended when the writer stopped: write_rto_s and reconnect_s are not measured")
	}
	if rep.VerifyError != "" {
		env.Logf("verification failed, lost_writes not measured: %s", rep.VerifyError)
	}
	logSetReads(env, rep)
	m := rep.Metrics()
	delete(m, "indeterminate") // the same count as indeterminate_writes, the documented name
	if rerr := recordFloats(env, m); rerr != nil {
		return rerr
	}
	if rep.GhostVisibleAt != nil {
		if rerr := env.Record("ghost_visible_at", *rep.GhostVisibleAt); rerr != nil {
			return rerr
		}
	}
	attempts := wt.w.Attempts()
	env.Timeline.AddWrites(writeBuckets(w.Name, env.Step.Key, attempts))
	if rerr := recordOutage(env, attempts, rep); rerr != nil {
		return rerr
	}
	if rerr := recordAckGap(env, attempts); rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	return verr
}

// stop stops the writer and counts its rows where verify_on says, by
// default on the leader now. When it is to count on the leader and no member
// leads (the cluster broken, or the DCS down so that Patroni names no
// leader), it counts on every member that answers and reports the member
// that kept the most acknowledged writes: no future leader can lose fewer.
// When nowhere to count can be resolved, the report is unverified. verr is
// the error resolving where to verify.
func (w *WriterStop) stop(ctx context.Context, env *steps.Env, wt writerTask) (rep pg.WriterReport, err, verr error) {
	verify, verr := env.Node(ctx, w.VerifyOn, w.VerifyDSN)
	if verr == nil {
		rep, err = wt.w.Stop(ctx, verify)
		return rep, err, nil
	}
	var members []pg.Node
	var merr error
	if w.VerifyDSN == "" && w.VerifyOn == steps.RoleLeader {
		members, merr = env.AllMembers()
	}
	if members == nil {
		if merr != nil {
			verr = fmt.Errorf("%w; and the members to count on instead: %w", verr, merr)
		}
		rep, err = wt.w.Halt(ctx)
		rep.VerifyError = "cannot resolve where to verify: " + verr.Error()
		return rep, err, verr
	}
	env.Logf("no leader now (%v): counting the rows on every member", verr)
	var best *pg.WriterReport
	var errs []error
	for _, m := range members {
		r, err := wt.w.Stop(ctx, m)
		if err != nil {
			env.Logf("  %s: %v", m.Name, err)
			errs = append(errs, err)
			continue
		}
		env.Logf("  %s: %d acknowledged writes missing", m.Name, *r.LostWrites)
		if best == nil || *r.LostWrites < *best.LostWrites {
			best = &r
		}
	}
	if best == nil {
		rep = wt.w.Summary()
		rep.VerifyError = errors.Join(errs...).Error()
		return rep, fmt.Errorf("no leader, and no member answered: %w", errors.Join(errs...)), nil
	}
	best.VerifiedOn += " (no leader: the member that kept the most acknowledged writes)"
	return *best, nil, nil
}

// maxLoggedFates caps the writes logSetReads lists: the step's log is
// capped too.
const maxLoggedFates = 50

// logSetReads logs what the set reads saw: their counts, and each lost,
// vanished and ghost write with its times (the first maxLoggedFates).
func logSetReads(env *steps.Env, rep pg.WriterReport) {
	if rep.SetReads == nil {
		return
	}
	env.Logf("set reads: %d returned, %d failed%s", *rep.SetReads, *rep.SetReadErrors, suffixErr(rep.SetReadError))
	if rep.VanishedWrites == nil {
		if rep.VerifiedOn != "" {
			env.Logf("no set read returned: visibility not measured")
		}
		return
	}
	env.Logf("visibility: %d writes seen then missing (vanished), %d present but never seen by a set read", *rep.VanishedWrites, *rep.UnreadWrites)
	if rep.VisibleAfterMaxS != nil {
		env.Logf("acknowledged writes visible for good after: median %.3f s, at most %.3f s", *rep.VisibleAfterP50S, *rep.VisibleAfterMaxS)
	}
	for i, f := range rep.Fates {
		if i == maxLoggedFates {
			env.Logf("  ... and %d more", len(rep.Fates)-i)
			break
		}
		env.Logf("  %s", describeFate(f))
	}
}

// describeFate is one notable write on one line.
func describeFate(f pg.WriteFate) string {
	at := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	s := fmt.Sprintf("seq %d %s (%s", f.Seq, f.Fate, f.Outcome)
	if f.AcknowledgedAt != nil {
		s += " at " + at(f.AcknowledgedAt)
	}
	if f.VisibleAt != nil {
		s += ", visible from " + at(f.VisibleAt)
	}
	if f.FirstSeenAt != nil {
		s += ", seen from " + at(f.FirstSeenAt) + " to " + at(f.LastSeenAt)
	} else {
		s += ", no set read saw it"
	}
	return s + ")"
}

// recordOutage records when the client-side outage started and, if it
// ended while the writer ran, when writes resumed, as times, so that checks
// can relate them to the fault and the new leader.
func recordOutage(env *steps.Env, attempts []pg.Attempt, rep pg.WriterReport) error {
	for _, a := range attempts {
		if a.Outcome == pg.Acknowledged {
			continue
		}
		if err := env.Record("outage_started_at", a.Start); err != nil || rep.WriteRTOS == nil {
			return err
		}
		return env.Record("writes_resumed_at", a.Start.Add(time.Duration(*rep.WriteRTOS*float64(time.Second))))
	}
	return nil
}

// recordAckGap records the longest time between two consecutive
// acknowledgements, which a failover stretches whether writes fail or hang,
// and, when that stall had ended, the acknowledgement that ended it.
func recordAckGap(env *steps.Env, attempts []pg.Attempt) error {
	g, ok := longestAckGap(attempts)
	if !ok {
		return nil
	}
	if g.open {
		env.Logf("longest gap between acknowledgements: %.3f s, still open when the writer stopped", g.gap.Seconds())
		return env.Record("max_ack_gap_s", g.gap.Seconds())
	}
	env.Logf("longest gap between acknowledgements: %.3f s, ended at %s", g.gap.Seconds(), g.endedAt.UTC().Format(time.RFC3339Nano))
	return env.RecordAll(map[string]any{"max_ack_gap_s": g.gap.Seconds(), "ack_gap_ended_at": g.endedAt})
}

// ackGap is the longest stretch without an acknowledgement: ended by the
// acknowledgement at endedAt, or open (writes were still not acknowledged
// when the writer stopped: then it runs from the last acknowledgement to the
// end of the last attempt).
type ackGap struct {
	gap     time.Duration
	endedAt time.Time
	open    bool
}

// longestAckGap finds the longest gap between two consecutive
// acknowledgements, or after the last one while the attempts after it all
// failed. It needs one acknowledged write and one attempt after it; with
// less it is not measured (ok false).
func longestAckGap(attempts []pg.Attempt) (g ackGap, ok bool) {
	var ends []time.Time
	var last time.Time
	for _, a := range attempts {
		if a.Outcome == pg.Acknowledged {
			ends = append(ends, a.End)
		}
		if a.End.After(last) {
			last = a.End
		}
	}
	if len(ends) == 0 {
		return g, false
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	if len(ends) >= 2 {
		g, ok = ackGap{endedAt: ends[1]}, true
	}
	for i := 1; i < len(ends); i++ {
		if d := ends[i].Sub(ends[i-1]); d > g.gap {
			g = ackGap{gap: d, endedAt: ends[i]}
		}
	}
	if trailing := last.Sub(ends[len(ends)-1]); trailing > g.gap {
		g, ok = ackGap{gap: trailing, open: true}, true
	}
	return g, ok
}

// WatchStart starts the split-brain watcher.
type WatchStart struct {
	Name     string        `yaml:"watcher" doc:"name of this watcher, for watch.stop"`
	Members  string        `yaml:"members" target:"all" doc:"all (every member of the cluster block), or a target"`
	Interval time.Duration `yaml:"interval" doc:"time between probes of a member (100-250 ms)"`
}

// Validate checks the interval.
func (w *WatchStart) Validate() error {
	if w.Interval < 50*time.Millisecond || w.Interval > 5*time.Second {
		return steps.FieldErrorf("interval", "must be from 50ms to 5s")
	}
	if w.Members != steps.OnAll {
		return steps.ValidateTarget("members", w.Members)
	}
	return nil
}

// Starts names the watcher for watch.stop.
func (w *WatchStart) Starts() (string, string) { return steps.RefWatcher, w.Name }

// watcher is a background task that records its results when stopped.
type watcher interface {
	steps.Task
	Finish(ctx context.Context, env *steps.Env, w *WatchStop) error
}

type splitBrainTask struct {
	w        *pg.SplitBrainWatcher
	name     string
	interval time.Duration
	tl       *timeline.Recorder
}

func (t splitBrainTask) Close(ctx context.Context) error {
	rep, err := t.w.Stop(ctx)
	t.tl.AddWatch(watchSpans(t.name, "", t.interval, rep))
	return err
}

// watchSpans turns what the watcher saw into spans for the timeline: each
// member's state from one observation to the next of that member (the
// last until the watcher stopped), merged while it stays the same, and
// the windows of more than one primary.
func watchSpans(name, step string, interval time.Duration, rep pg.SplitBrainReport) timeline.Watch {
	w := timeline.Watch{Watcher: name, Step: step, IntervalMS: interval.Milliseconds()}
	obs := slices.Clone(rep.Observations)
	slices.SortStableFunc(obs, func(a, b pg.Observation) int { return a.End.Compare(b.End) })
	open := map[string]int{} // member -> index in w.States of its current span
	for _, o := range obs {
		state := o.State.String()
		if i, ok := open[o.Member]; ok {
			w.States[i].End = o.End
			if w.States[i].State == state {
				continue
			}
		}
		open[o.Member] = len(w.States)
		w.States = append(w.States, timeline.Span{Start: o.End, End: o.End, State: state, Members: []string{o.Member}})
	}
	for _, i := range open {
		if rep.End.After(w.States[i].End) {
			w.States[i].End = rep.End
		}
	}
	for _, o := range rep.Overlaps {
		w.Overlaps = append(w.Overlaps, timeline.Span{Start: o.Start, End: o.End, State: "primary", Members: o.Members})
	}
	return w
}

// Finish stops the watcher and records max_primaries and split_brain_s,
// and when asked the last write a given member accepted.
func (t splitBrainTask) Finish(ctx context.Context, env *steps.Env, stop *WatchStop) error {
	rep, err := t.w.Stop(ctx)
	env.Timeline.AddWatch(watchSpans(t.name, env.Step.Key, t.interval, rep))
	if stop.Member != "" {
		if rerr := recordLastWrite(env, rep.Observations, stop.Member); rerr != nil {
			return rerr
		}
	}
	for _, o := range rep.Overlaps {
		env.Logf("more than one primary accepted writes: %v", o.Members)
	}
	for _, m := range rep.Members {
		env.Logf("%+v", m)
	}
	if rerr := recordFloats(env, rep.Metrics()); rerr != nil {
		return rerr
	}
	return err
}

// Run starts watching.
func (w *WatchStart) Run(ctx context.Context, env *steps.Env) error {
	nodes, err := env.Nodes(ctx, w.Members, "")
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	wt, err := env.Ports.SQL.StartSplitBrainWatcher(context.WithoutCancel(ctx), pg.WatchConfig{Members: nodes, Interval: w.Interval, Logger: env.Logger})
	if err != nil {
		return err
	}
	env.Logf("watching %d members every %s", len(nodes), w.Interval)
	return env.Background.Start(w.Name, splitBrainTask{w: wt, name: w.Name, interval: w.Interval, tl: env.Timeline})
}

// recordLastWrite records when member last committed a probe write.
func recordLastWrite(env *steps.Env, obs []pg.Observation, member string) error {
	var last time.Time
	seen := false
	for _, o := range obs {
		if o.Member != member {
			continue
		}
		seen = true
		if o.State == pg.StatePrimary && o.End.After(last) {
			last = o.End
		}
	}
	switch {
	case !seen:
		return fmt.Errorf("member: the watcher did not probe %q", member)
	case last.IsZero():
		env.Logf("%s never accepted a write while watched", member)
		return nil
	}
	env.Logf("%s last accepted a write at %s", member, last.UTC().Format(time.RFC3339Nano))
	return env.Record("member_last_write_at", last)
}

// WatchStop stops a watcher and records what it saw.
type WatchStop struct {
	Name   string `yaml:"watcher" doc:"the watcher to stop"`
	Member string `yaml:"member" target:"member" doc:"split_brain: also record when this member last accepted a write (e.g. the partitioned old leader)"`
}

// References names the watcher to stop.
func (w *WatchStop) References() []steps.Reference {
	return []steps.Reference{{Field: "watcher", What: steps.RefWatcher, Name: w.Name}}
}

// Stops names the watcher: after an early stop the runner still runs this
// step, to record what the watcher saw.
func (w *WatchStop) Stops() (string, string) { return steps.RefWatcher, w.Name }

// Run stops and records.
func (w *WatchStop) Run(ctx context.Context, env *steps.Env) error {
	t, err := env.Background.Take(w.Name)
	if err != nil {
		return err
	}
	wt, ok := t.(watcher)
	if !ok {
		return fmt.Errorf("%q is not a watcher (stop a writer with writer.stop)", w.Name)
	}
	return wt.Finish(ctx, env, w)
}

// WatchLag samples replication lag in the background.
type WatchLag struct {
	Name     string        `yaml:"watcher" doc:"name of this watcher, for watch.stop"`
	On       string        `yaml:"on" target:"sql" doc:"the primary to read (default the leader when the watch starts)"`
	DSN      string        `yaml:"dsn" doc:"read here instead"`
	Interval time.Duration `yaml:"interval" doc:"time between samples"`
}

// Validate checks the interval and target.
func (w *WatchLag) Validate() error {
	if w.Interval < 50*time.Millisecond {
		return steps.FieldErrorf("interval", "must be at least 50ms")
	}
	return steps.ValidateOn(w.On, w.DSN)
}

// Starts names the watcher for watch.stop.
func (w *WatchLag) Starts() (string, string) { return steps.RefWatcher, w.Name }

// Run starts sampling.
func (w *WatchLag) Run(ctx context.Context, env *steps.Env) error {
	n, err := env.Node(ctx, w.On, w.DSN)
	if err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &lagTask{cancel: cancel, done: make(chan struct{}), series: timeline.LagSeries{Watcher: w.Name, On: n.Name, IntervalMS: w.Interval.Milliseconds()}}
	go t.sample(bg, env.Ports.SQL, n, w.Interval)
	env.Logf("sampling lag on %s every %s", n.Name, w.Interval)
	return env.Background.Start(w.Name, t)
}

// lagTask samples lag until stopped; a failed sample is logged and skipped,
// never counted as zero.
type lagTask struct {
	cancel  context.CancelFunc
	done    chan struct{}
	samples int
	failed  int
	peak    *int64
	lastErr string
	// series keeps every reading for the report's timeline (a failed
	// read is left out)
	series timeline.LagSeries
}

func (t *lagTask) sample(ctx context.Context, sql steps.SQL, n pg.Node, every time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		rep, err := sql.Lag(ctx, n)
		switch {
		case err != nil:
			t.failed++
			t.lastErr = err.Error()
		case rep.MaxReplayLagBytes == nil:
			t.series.Samples = append(t.series.Samples, timeline.LagSample{At: time.Now()})
		default:
			t.series.Samples = append(t.series.Samples, timeline.LagSample{At: time.Now(), Bytes: rep.MaxReplayLagBytes})
			t.samples++
			if t.peak == nil || *rep.MaxReplayLagBytes > *t.peak {
				v := *rep.MaxReplayLagBytes
				t.peak = &v
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *lagTask) Close(ctx context.Context) error {
	t.cancel()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Finish stops sampling and records the peak.
func (t *lagTask) Finish(ctx context.Context, env *steps.Env, _ *WatchStop) error {
	if err := t.Close(ctx); err != nil {
		return err
	}
	env.Logf("%d lag samples, %d failed%s", t.samples, t.failed, suffixErr(t.lastErr))
	t.series.Step = env.Step.Key
	env.Timeline.AddLag(t.series)
	values := map[string]any{"lag_samples": t.samples}
	if t.peak != nil {
		values["peak_lag_mb"] = float64(*t.peak) / (1 << 20)
	}
	return env.RecordAll(values)
}

func suffixErr(s string) string {
	if s == "" {
		return ""
	}
	return " (last error: " + s + ")"
}

// setupContext bounds the start of a background task by the step's
// deadline but not by its cancellation: the task outlives the step, and
// its start retries a route that refuses new clients for a moment only
// until the step's time runs out.
func setupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	setup := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(setup, deadline)
	}
	return setup, func() {}
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step      = (*InsertLoop)(nil)
	_ steps.Validator = (*InsertLoop)(nil)
	_ steps.Step      = (*WatchLag)(nil)
	_ steps.Validator = (*WatchLag)(nil)
	_ steps.Starter   = (*WatchLag)(nil)
	_ steps.Step      = (*WatchStart)(nil)
	_ steps.Validator = (*WatchStart)(nil)
	_ steps.Starter   = (*WatchStart)(nil)
	_ steps.Step      = (*WatchStop)(nil)
	_ steps.Referrer  = (*WatchStop)(nil)
	_ steps.Stopper   = (*WatchStop)(nil)
	_ steps.Step      = (*WriterStart)(nil)
	_ steps.Validator = (*WriterStart)(nil)
	_ steps.Starter   = (*WriterStart)(nil)
	_ steps.Step      = (*WriterStop)(nil)
	_ steps.Validator = (*WriterStop)(nil)
	_ steps.Referrer  = (*WriterStop)(nil)
	_ steps.Stopper   = (*WriterStop)(nil)
)
