// Command insertbench compares drill's InsertLoop with pgbench on the same
// INSERT, the same server and the same number of clients.
//
// It starts one throwaway PostgreSQL server (durable settings: fsync and
// synchronous_commit on), then for each profile and client count runs
//
//	pgbench -n -M prepared -f insert.sql -c N -T SECONDS
//
// and InsertLoop for as long with N connections, truncating the table and
// checkpointing before each run, and prints the rows/s of each and their
// ratio. Every row is its own transaction in both tools. Each comparison
// is repeated -rounds times, alternating which tool goes first, and the
// medians are compared: on a shared machine a single 10 s run of either
// tool can be off by a factor of two.
//
// Profile "durable" commits as configured: every commit waits for a WAL
// fdatasync, so rows/s is rows per fsync (group commit) times the disk's
// fsyncs per second, and the latter moves with whatever else uses the
// disk. Both are printed, with each tool's client CPU time per row (what
// a load generator takes from the server it shares the machine with).
// Profile "async" sets synchronous_commit = off so that CPU, not the WAL
// flush, is the bottleneck.
//
// Run it through bench/insert-vs-pgbench.sh, or: go run ./bench/insertbench -h
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/drill-dev/drill/internal/client/pg"
	"github.com/drill-dev/drill/internal/client/pg/pgtest"
	"github.com/jackc/pgx/v5"
)

const (
	createTable = `CREATE TABLE bench_insert (
	id bigserial PRIMARY KEY,
	n bigint NOT NULL,
	payload text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now())`
	// The same statement for both tools: with -M prepared pgbench binds each
	// occurrence of :n as its own parameter, $1 and $2.
	loopSQL    = `INSERT INTO bench_insert (n, payload) VALUES ($1, md5($2::text))`
	pgbenchSQL = "\\set n random(1, 1000000000)\nINSERT INTO bench_insert (n, payload) VALUES (:n, md5(:n::text));\n"
)

// sample is one run of one tool.
type sample struct {
	rate        float64 // rows/s as the tool reports it
	cpuPerRow   float64 // client CPU µs per committed row
	rowsPerSync float64 // committed rows per WAL fdatasync
	msPerSync   float64 // mean fdatasync time
	report      *pg.InsertReport
}

// result is the medians of the rounds of one profile and client count.
type result struct {
	profile       string
	clients       int
	pgbench, loop sample
	ratios        []float64
	loopErrors    int64
}

func main() {
	clients := flag.String("clients", "1,8", "comma-separated client counts")
	seconds := flag.Int("T", 10, "seconds per run")
	pipeline := flag.Int("pipeline", 32, "InsertLoop statements in flight per connection")
	profiles := flag.String("profiles", "durable,async", "comma-separated profiles: durable, async")
	rounds := flag.Int("rounds", 3, "runs of each tool per comparison (medians are compared)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (InsertLoop's client side) to `file`")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "insertbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *clients, *profiles, *seconds, *pipeline, max(*rounds, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "insertbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, clientList, profileList string, seconds, pipeline, rounds int) error {
	counts, err := parseInts(clientList)
	if err != nil {
		return err
	}
	bin, err := pgtest.BinDir()
	if err != nil {
		return err
	}
	c, err := pgtest.NewCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	srv, err := c.InitPrimary(ctx, "bench", pgtest.Settings{"max_wal_size": "2GB", "checkpoint_timeout": "30min", "track_wal_io_timing": "on"})
	if err != nil {
		return err
	}
	script := filepath.Join(c.Root, "insert.sql")
	if err := os.WriteFile(script, []byte(pgbenchSQL), 0o644); err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, srv.DSN(""))
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, createTable); err != nil {
		return err
	}
	var version string
	admin.QueryRow(ctx, `SHOW server_version`).Scan(&version)
	fmt.Printf("PostgreSQL %s on 127.0.0.1:%d, %d s per run, %d rounds, InsertLoop pipeline %d, %d CPUs, load average %s\n",
		version, srv.Port, seconds, rounds, pipeline, runtime.NumCPU(), loadavg())

	var results []result
	for _, profile := range strings.Split(profileList, ",") {
		commit := map[string]string{"durable": "on", "async": "off"}[profile]
		if commit == "" {
			return fmt.Errorf("unknown profile %q (want durable or async)", profile)
		}
		if _, err := admin.Exec(ctx, `ALTER SYSTEM SET synchronous_commit = `+commit); err != nil {
			return err
		}
		if _, err := admin.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
			return err
		}
		for _, n := range counts {
			r, err := compare(ctx, admin, bin, srv, script, profile, n, seconds, pipeline, rounds)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
	}

	fmt.Printf("\nmedians over %d rounds (load average now %s):\n", rounds, loadavg())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\tclients\tpgbench rows/s\tInsertLoop rows/s\tratio\tper-round ratios\t"+
		"rows/fsync pgbench\tInsertLoop\tms/fsync pgbench\tInsertLoop\tCPU µs/row pgbench\tInsertLoop\tInsertLoop p50\tp99\terrors\t")
	for _, r := range results {
		var rs []string
		for _, x := range r.ratios {
			rs = append(rs, fmt.Sprintf("%.2f", x))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2fx\t%s\t%.2f\t%.2f\t%.3f\t%.3f\t%.1f\t%.1f\t%s\t%s\t%d\t\n",
			r.profile, r.clients, r.pgbench.rate, r.loop.rate, r.loop.rate/r.pgbench.rate, strings.Join(rs, " "),
			r.pgbench.rowsPerSync, r.loop.rowsPerSync, r.pgbench.msPerSync, r.loop.msPerSync, r.pgbench.cpuPerRow, r.loop.cpuPerRow,
			r.loop.report.LatencyP50.Round(time.Microsecond), r.loop.report.LatencyP99.Round(time.Microsecond), r.loopErrors)
	}
	return tw.Flush()
}

// compare runs pgbench and InsertLoop rounds times each, alternating which
// goes first, and returns the medians.
func compare(ctx context.Context, admin *pgx.Conn, bin string, srv *pgtest.Server, script, profile string, n, seconds, pipeline, rounds int) (result, error) {
	r := result{profile: profile, clients: n}
	runBench := func() (float64, time.Duration, *pg.InsertReport, error) {
		before := cpuTime(syscall.RUSAGE_CHILDREN)
		rate, err := pgbench(ctx, bin, srv, script, n, seconds)
		return rate, cpuTime(syscall.RUSAGE_CHILDREN) - before, nil, err
	}
	runLoop := func() (float64, time.Duration, *pg.InsertReport, error) {
		before := cpuTime(syscall.RUSAGE_SELF)
		rep, err := pg.InsertLoop(ctx, pg.InsertConfig{
			DSN: srv.DSN(""), SQL: loopSQL, Args: []string{"row", "row"},
			Clients: n, Pipeline: pipeline, Duration: time.Duration(seconds) * time.Second,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			return 0, 0, nil, err
		}
		return *rep.OpsPerSec, cpuTime(syscall.RUSAGE_SELF) - before, &rep, nil
	}
	var benchSamples, loopSamples []sample
	for round := range rounds {
		tools := []func() (float64, time.Duration, *pg.InsertReport, error){runBench, runLoop}
		if round%2 == 1 {
			tools[0], tools[1] = tools[1], tools[0]
		}
		var got []sample
		for _, tool := range tools {
			s, err := measure(ctx, admin, tool)
			if err != nil {
				return r, err
			}
			got = append(got, s)
		}
		b, l := got[0], got[1]
		if round%2 == 1 {
			b, l = l, b
		}
		benchSamples, loopSamples = append(benchSamples, b), append(loopSamples, l)
		r.ratios = append(r.ratios, l.rate/b.rate)
		r.loopErrors += l.report.Errors
		fmt.Printf("  %s c=%d round %d: pgbench %.0f rows/s (%.2f rows/fsync, %.1f µs CPU/row), InsertLoop %.0f rows/s (%.2f rows/fsync, %.1f µs CPU/row): %.2fx\n",
			profile, n, round+1, b.rate, b.rowsPerSync, b.cpuPerRow, l.rate, l.rowsPerSync, l.cpuPerRow, l.rate/b.rate)
	}
	r.pgbench, r.loop = medianSample(benchSamples), medianSample(loopSamples)
	return r, nil
}

// measure empties the table, runs one tool and reads what it committed and
// how many WAL fsyncs that took.
func measure(ctx context.Context, admin *pgx.Conn, tool func() (float64, time.Duration, *pg.InsertReport, error)) (sample, error) {
	if err := reset(ctx, admin); err != nil {
		return sample{}, err
	}
	syncs0, ms0, err := walSyncs(ctx, admin)
	if err != nil {
		return sample{}, err
	}
	rate, cpu, rep, err := tool()
	if err != nil {
		return sample{}, err
	}
	time.Sleep(time.Second) // backends report WAL statistics at most once a second
	syncs1, ms1, err := walSyncs(ctx, admin)
	if err != nil {
		return sample{}, err
	}
	var rows int64
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM bench_insert`).Scan(&rows); err != nil {
		return sample{}, err
	}
	s := sample{rate: rate, report: rep}
	if rows > 0 {
		s.cpuPerRow = float64(cpu) / float64(time.Microsecond) / float64(rows)
	}
	if d := syncs1 - syncs0; d > 0 {
		s.rowsPerSync, s.msPerSync = float64(rows)/float64(d), (ms1-ms0)/float64(d)
	}
	return s, nil
}

// walSyncs reads the number of WAL fsyncs and their total time in ms.
func walSyncs(ctx context.Context, admin *pgx.Conn) (int64, float64, error) {
	var n int64
	var ms float64
	err := admin.QueryRow(ctx, `SELECT wal_sync, wal_sync_time FROM pg_stat_wal`).Scan(&n, &ms)
	return n, ms, err
}

// medianSample takes the median of each field on its own; the report is
// that of the median-rate run.
func medianSample(ss []sample) sample {
	field := func(f func(sample) float64) float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return median(xs)
	}
	byRate := slices.Clone(ss)
	slices.SortFunc(byRate, func(a, b sample) int { return cmp.Compare(a.rate, b.rate) })
	return sample{
		rate:        field(func(s sample) float64 { return s.rate }),
		cpuPerRow:   field(func(s sample) float64 { return s.cpuPerRow }),
		rowsPerSync: field(func(s sample) float64 { return s.rowsPerSync }),
		msPerSync:   field(func(s sample) float64 { return s.msPerSync }),
		report:      byRate[len(byRate)/2].report,
	}
}

// cpuTime is the user+system CPU time of this process or of its waited-for
// children (pgbench).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// reset empties the table and checkpoints, so each run starts alike.
func reset(ctx context.Context, admin *pgx.Conn) error {
	for _, sql := range []string{`TRUNCATE bench_insert`, `CHECKPOINT`} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

var tpsRE = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs pgbench -n -M prepared -f script -c n -T seconds and returns
// its tps: rows/s, one row per transaction.
func pgbench(ctx context.Context, bin string, srv *pgtest.Server, script string, n, seconds int) (float64, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pgbench"), "-n", "-M", "prepared", "-f", script,
		"-c", strconv.Itoa(n), "-T", strconv.Itoa(seconds),
		"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port), "-U", "postgres", "postgres")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := tpsRE.FindSubmatch(out)
	if m == nil {
		return 0, errors.New("pgbench: no tps line in:\n" + string(out))
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("client count %q: want a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
