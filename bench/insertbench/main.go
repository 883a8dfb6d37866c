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
// ratio. Each comparison is repeated -rounds times, alternating which tool
// goes first, and the medians are compared: on a shared machine a single
// 10 s run of either tool can be off by a factor of two. The client CPU
// time per row of each tool is printed too: it is what a load generator
// takes away from the server it shares the machine with. Profile "durable" commits as configured; "async" sets
// synchronous_commit = off so that the client, not the WAL flush, is the
// bottleneck. Every row is its own transaction in both tools.
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

	"github.com/drill-dev/drill/internal/pg"
	"github.com/drill-dev/drill/internal/pg/pgtest"
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

// result is the median of the rounds of one profile and client count.
type result struct {
	profile          string
	clients          int
	pgbench, loop    float64 // median rows/s
	pgbenchCPU       float64 // median client CPU µs per row
	loopCPU          float64
	ratios           []float64
	loopP50, loopP99 time.Duration // of the median InsertLoop round
	loopErrors       int64
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
	srv, err := c.InitPrimary(ctx, "bench", pgtest.Settings{"max_wal_size": "2GB", "checkpoint_timeout": "30min"})
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
	fmt.Fprintln(tw, "profile\tclients\tpgbench rows/s\tInsertLoop rows/s\tratio\tper-round ratios\tclient CPU µs/row pgbench\tInsertLoop\tInsertLoop p50\tp99\terrors\t")
	for _, r := range results {
		var rs []string
		for _, x := range r.ratios {
			rs = append(rs, fmt.Sprintf("%.2f", x))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.2fx\t%s\t%.1f\t%.1f\t%s\t%s\t%d\t\n", r.profile, r.clients, r.pgbench, r.loop, r.loop/r.pgbench,
			strings.Join(rs, " "), r.pgbenchCPU, r.loopCPU, r.loopP50.Round(time.Microsecond), r.loopP99.Round(time.Microsecond), r.loopErrors)
	}
	return tw.Flush()
}

// compare runs pgbench and InsertLoop rounds times each, alternating which
// goes first, and returns the medians.
func compare(ctx context.Context, admin *pgx.Conn, bin string, srv *pgtest.Server, script, profile string, n, seconds, pipeline, rounds int) (result, error) {
	r := result{profile: profile, clients: n}
	var benchRates, benchCPU, loopCPU []float64
	var loops []pg.InsertReport
	for round := range rounds {
		var bench, bcpu, lcpu float64
		var loop pg.InsertReport
		runBench := func() (err error) {
			before := cpuTime(syscall.RUSAGE_CHILDREN)
			bench, err = pgbench(ctx, bin, srv, script, n, seconds)
			bcpu = float64(cpuTime(syscall.RUSAGE_CHILDREN)-before) / float64(time.Microsecond) / (bench * float64(seconds))
			return err
		}
		runLoop := func() (err error) {
			before := cpuTime(syscall.RUSAGE_SELF)
			defer func() {
				if err == nil {
					lcpu = float64(cpuTime(syscall.RUSAGE_SELF)-before) / float64(time.Microsecond) / float64(loop.Rows)
				}
			}()
			loop, err = pg.InsertLoop(ctx, pg.InsertConfig{
				DSN: srv.DSN(""), SQL: loopSQL, Args: []string{"row", "row"},
				Clients: n, Pipeline: pipeline, Duration: time.Duration(seconds) * time.Second,
				Logger: slog.New(slog.DiscardHandler),
			})
			return err
		}
		order := []func() error{runBench, runLoop}
		if round%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, step := range order {
			if err := reset(ctx, admin); err != nil {
				return r, err
			}
			if err := step(); err != nil {
				return r, err
			}
		}
		benchRates = append(benchRates, bench)
		benchCPU, loopCPU = append(benchCPU, bcpu), append(loopCPU, lcpu)
		loops = append(loops, loop)
		r.ratios = append(r.ratios, *loop.OpsPerSec/bench)
		r.loopErrors += loop.Errors
		fmt.Printf("  %s c=%d round %d: pgbench %.0f rows/s (%.1f µs CPU/row), InsertLoop %.0f rows/s (%.1f µs CPU/row): %.2fx\n",
			profile, n, round+1, bench, bcpu, *loop.OpsPerSec, lcpu, *loop.OpsPerSec/bench)
	}
	r.pgbench = median(benchRates)
	r.pgbenchCPU, r.loopCPU = median(benchCPU), median(loopCPU)
	slices.SortFunc(loops, func(a, b pg.InsertReport) int { return cmp.Compare(*a.OpsPerSec, *b.OpsPerSec) })
	mid := loops[len(loops)/2]
	if len(loops)%2 == 0 {
		r.loop = (*loops[len(loops)/2-1].OpsPerSec + *mid.OpsPerSec) / 2
	} else {
		r.loop = *mid.OpsPerSec
	}
	r.loopP50, r.loopP99 = *mid.LatencyP50, *mid.LatencyP99
	return r, nil
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
