package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/drill-dev/drill/internal/client/pg"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/timeline"
	"github.com/drill-dev/drill/steps"
)

// The background reader: reads across a fault, and what they saw.

func init() {
	steps.Register(steps.Kind{
		Name:    "reader.start",
		Summary: "start a background reader, with concurrency and a rate, that can follow a writer",
		Doc: "Reads through on (default the pooled endpoint; the read-only route to the replicas, e.g. HAProxy's replica " +
			"port, with replica_route (cluster.replica_dsn); one replica with any_replica or member:NAME) from concurrency connections, at rate reads per second in all (0: as fast as they can), " +
			"reconnecting after failures. Each read looks up the highest sequence number of the writer named by follows " +
			"(SELECT max(seq) FROM drill_writes WHERE run_id = ..., one index lookup), so that reader.stop can compare " +
			"what each read saw with the writes acknowledged before it began. Without follows the reads look up a run " +
			"with no rows, and drill_writes must exist on the target (a writer has run on the cluster). Stop it with reader.stop.",
		Example: "kind: reader.start\non: any_replica\nfollows: writer\nconcurrency: 4",
		New:     func() steps.Step { return &ReaderStart{Name: "reader", On: steps.OnPooled, Concurrency: 1} },
		Timeout: 30 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "reader.stop",
		Summary: "stop a reader and record reads/s, errors, the outage and what the reads missed",
		Doc: "Stops the reader and records its reads per second, errors and longest outage; when it follows a writer, " +
			"the stale reads (a read that began after writes were acknowledged and did not see them: on a replica, how " +
			"many rows and how many seconds behind) and the backwards reads (a read that saw less than a read that had " +
			"ended before it began, on any connection).",
		Example: "kind: reader.stop",
		New:     func() steps.Step { return &ReaderStop{Name: "reader"} },
		Timeout: time.Minute,
		Metrics: []metric.Spec{
			{Name: "reads", Type: metric.Number, Doc: "reads that returned"},
			{Name: "read_errors", Type: metric.Number, Doc: "reads that failed, or whose connection could not be made"},
			{Name: "reads_per_s", Type: metric.Number, Doc: "reads that returned per second, from the first read's start to the last one's end"},
			{Name: "read_outage_s", Type: metric.Number, Doc: "the longest outage: from the start of a failed read to the end of the first successful read that began after it; not measured when no read failed or none succeeded after a failure", Resolution: "the retry interval (100 ms)"},
			{Name: "stale_reads", Type: metric.Number, Doc: "follows: reads that missed writes acknowledged before they began"},
			{Name: "max_stale_rows", Type: metric.Number, Doc: "follows: the most acknowledged writes one read missed"},
			{Name: "max_stale_s", Type: metric.Number, Doc: "follows: the longest a read was behind: its start minus the acknowledgement of the first write it missed", Resolution: "the writer's interval (1/rate)"},
			{Name: "backwards_reads", Type: metric.Number, Doc: "follows: reads that saw less than a read that had ended before they began (monotonic reads broken)"},
		},
	})
}

// ReaderStart starts a background reader.
type ReaderStart struct {
	Name        string  `yaml:"reader" doc:"name of this reader, for reader.stop"`
	On          string  `yaml:"on" target:"sql,read" doc:"where to read (one node): pooled, replica_route (cluster.replica_dsn), leader, any_replica, member:NAME, a service"`
	DSN         string  `yaml:"dsn" doc:"read here instead"`
	Follows     string  `yaml:"follows" doc:"the writer (writer.start's writer) whose rows the reads look at and whose acknowledgements they are compared with"`
	Concurrency int     `yaml:"concurrency" doc:"connections reading at once (1-256)"`
	Rate        float64 `yaml:"rate" doc:"reads per second of all connections together (0: as fast as they can)"`
}

// Validate checks the sizes and the target.
func (r *ReaderStart) Validate() error {
	switch {
	case r.Concurrency < 1 || r.Concurrency > 256:
		return steps.FieldErrorf("concurrency", "must be from 1 to 256")
	case r.Rate < 0:
		return steps.FieldErrorf("rate", "must not be negative")
	}
	return steps.ValidateOn(r.On, r.DSN)
}

// Starts names the reader for reader.stop.
func (r *ReaderStart) Starts() (string, string) { return steps.RefReader, r.Name }

// References names the writer the reader follows.
func (r *ReaderStart) References() []steps.Reference {
	if r.Follows == "" {
		return nil
	}
	return []steps.Reference{{Field: "follows", What: steps.RefWriter, Name: r.Follows}}
}

// readerTask is a running reader.
type readerTask struct {
	r        *pg.Reader
	name, on string // the reader's name and the node it reads through
	tl       *timeline.Recorder
}

// Close stops a reader no reader.stop stopped; its reads still go on the
// timeline.
func (t readerTask) Close(ctx context.Context) error {
	rep, err := t.r.Stop(ctx)
	t.tl.AddReads(readsOf(t.name, t.on, "", rep))
	return err
}

// readsOf is what a reader's report puts on the timeline: its reads per
// bucket (pg.BucketWidth, as the writers') and its longest outage.
func readsOf(name, on, step string, rep pg.ReaderReport) timeline.Reads {
	b := rep.Buckets
	rd := timeline.Reads{Reader: name, Step: step, On: on, Start: b.Start, BucketMS: pg.BucketWidth.Milliseconds(), OK: b.OK, Failed: b.Failed}
	if !rep.OutageFrom.IsZero() {
		rd.Outage = &timeline.Outage{Start: rep.OutageFrom, End: rep.OutageTo, Open: rep.OutageOpen}
	}
	return rd
}

// Run starts the reader in the background.
func (r *ReaderStart) Run(ctx context.Context, env *steps.Env) error {
	cfg := pg.ReaderConfig{Concurrency: r.Concurrency, Rate: r.Rate, LoopConfig: pg.LoopConfig{Logger: env.Logger}}
	if r.Follows != "" {
		t, ok := env.Background.Get(r.Follows)
		wt, isWriter := t.(writerTask)
		if !ok || !isWriter {
			return fmt.Errorf("follows: no writer named %q is running (running: %v)", r.Follows, env.Background.Running())
		}
		cfg.Follows = wt.w
	}
	n, err := env.Node(ctx, r.On, r.DSN)
	if err != nil {
		return err
	}
	cfg.DSN = n.DSN
	// The reader outlives this step: it stops at reader.stop or at the end
	// of the scenario, not when this step's context ends.
	setup, cancel := setupContext(ctx)
	defer cancel()
	rd, err := env.Ports.SQL.StartReader(setup, cfg)
	if err != nil {
		return err
	}
	pace, following := "as fast as they can", "no writer"
	if r.Rate > 0 {
		pace = fmt.Sprintf("at %v reads/s", r.Rate)
	}
	if r.Follows != "" {
		following = "writer " + r.Follows
	}
	env.Logf("reader %s reading through %s, %d connection(s) %s, following %s", r.Name, n.Name, r.Concurrency, pace, following)
	return env.Background.Start(r.Name, readerTask{r: rd, name: r.Name, on: n.Name, tl: env.Timeline})
}

// ReaderStop stops a reader and records what it measured.
type ReaderStop struct {
	Name string `yaml:"reader" doc:"the reader to stop"`
}

// References names the reader to stop.
func (r *ReaderStop) References() []steps.Reference {
	return []steps.Reference{{Field: "reader", What: steps.RefReader, Name: r.Name}}
}

// Stops names the reader: after an early stop the runner still runs this
// step, to record what the reads saw across the fault.
func (r *ReaderStop) Stops() (string, string) { return steps.RefReader, r.Name }

// Run stops the reader and records.
func (r *ReaderStop) Run(ctx context.Context, env *steps.Env) error {
	t, err := env.Background.Take(r.Name)
	if err != nil {
		return err
	}
	rt, ok := t.(readerTask)
	if !ok {
		return fmt.Errorf("%q is not a reader", r.Name)
	}
	rep, err := rt.r.Stop(ctx)
	rate := "reads/s not measured"
	if rep.ReadsPerS != nil {
		rate = fmt.Sprintf("%.0f reads/s", *rep.ReadsPerS)
	}
	env.Logf("%d reads, %d errors, %s from %d connection(s) (run %s)", rep.Reads, rep.ReadErrors, rate, rep.Concurrency, rep.RunID)
	if rep.FirstError != "" {
		env.Logf("first error: %s", rep.FirstError)
	}
	if rep.OutageOpen {
		env.Logf("reads were still failing when the reader stopped: read_outage_s is not measured")
	}
	if rep.StaleReads != nil {
		env.Logf("stale reads: %d (at most %d rows, %.3f s behind); backwards reads: %d", *rep.StaleReads, *rep.MaxStaleRows, *rep.MaxStaleS, *rep.BackwardsReads)
	}
	env.Timeline.AddReads(readsOf(rt.name, rt.on, env.Step.Key, rep))
	if rerr := recordFloats(env, rep.Metrics()); rerr != nil {
		return rerr
	}
	return err
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step      = (*ReaderStart)(nil)
	_ steps.Validator = (*ReaderStart)(nil)
	_ steps.Starter   = (*ReaderStart)(nil)
	_ steps.Referrer  = (*ReaderStart)(nil)
	_ steps.Step      = (*ReaderStop)(nil)
	_ steps.Referrer  = (*ReaderStop)(nil)
	_ steps.Stopper   = (*ReaderStop)(nil)
)
