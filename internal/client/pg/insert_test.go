package pg

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestInsertLoopRows(t *testing.T) {
	exec(t, primary, `DROP TABLE IF EXISTS ins_rows`)
	exec(t, primary, `CREATE TABLE ins_rows (n bigint PRIMARY KEY, payload text, at timestamptz DEFAULT now())`)
	for _, pipeline := range []int{1, 32} {
		exec(t, primary, `TRUNCATE ins_rows`)
		r, err := InsertLoop(t.Context(), InsertConfig{
			DSN: primary.DSN, SQL: `INSERT INTO ins_rows (n, payload) VALUES ($1, $2)`,
			Rows: 3000, Clients: 4, Pipeline: pipeline,
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Rows != 3000 || r.Errors != 0 || len(r.ErrorSamples) != 0 {
			t.Errorf("pipeline %d: rows %d errors %d %v", pipeline, r.Rows, r.Errors, r.ErrorSamples)
		}
		if n := queryInt(t, primary, `SELECT count(*) FROM ins_rows WHERE n BETWEEN 1 AND 3000 AND length(payload) = 16`); n != 3000 {
			t.Errorf("pipeline %d: %d rows in the table, want 3000", pipeline, n)
		}
		if r.OpsPerSec == nil || *r.OpsPerSec <= 0 || r.LatencyP50 == nil || r.LatencyP99 == nil || *r.LatencyP99 < *r.LatencyP50 {
			t.Errorf("pipeline %d: rate/latency = %v %v %v", pipeline, deref(r.OpsPerSec), deref(r.LatencyP50), deref(r.LatencyP99))
		}
		t.Logf("pipeline %d: %.0f rows/s, p50 %s, p99 %s", pipeline, *r.OpsPerSec, *r.LatencyP50, *r.LatencyP99)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func TestInsertLoopDurationAndRowErrors(t *testing.T) {
	exec(t, primary, `DROP TABLE IF EXISTS ins_dup`)
	exec(t, primary, `CREATE TABLE ins_dup (n bigint PRIMARY KEY)`)
	exec(t, primary, `INSERT INTO ins_dup SELECT g FROM generate_series(1, 1000, 2) g`) // odd rows exist
	r, err := InsertLoop(t.Context(), InsertConfig{DSN: primary.DSN, SQL: `INSERT INTO ins_dup VALUES ($1)`, Rows: 1000, Clients: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 500 || r.Errors != 500 || len(r.ErrorSamples) != 1 || !strings.Contains(r.ErrorSamples[0], "duplicate key") {
		t.Errorf("rows %d errors %d samples %q; want 500, 500, one duplicate key", r.Rows, r.Errors, r.ErrorSamples)
	}
	if n := queryInt(t, primary, `SELECT count(*) FROM ins_dup`); n != 1000 {
		t.Errorf("%d rows in the table, want 1000: each row is its own transaction", n)
	}
	if ack, failed, ind := sum(r.Buckets.Acknowledged), sum(r.Buckets.Failed), sum(r.Buckets.Indeterminate); ack != 500 || failed != 500 || ind != 0 ||
		r.Buckets.Width != BucketWidth || len(r.Buckets.Failed) != len(r.Buckets.Acknowledged) {
		t.Errorf("buckets: %d acknowledged, %d failed, %d indeterminate in %d buckets of %s; want 500, 500, 0",
			ack, failed, ind, len(r.Buckets.Acknowledged), r.Buckets.Width)
	}

	start := time.Now()
	r, err = InsertLoop(t.Context(), InsertConfig{DSN: primary.DSN, SQL: `INSERT INTO ins_dup VALUES ($1 + 1000)`, Duration: 300 * time.Millisecond, Clients: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); r.Rows == 0 || r.Errors != 0 || r.Elapsed < 300*time.Millisecond || d > 10*time.Second {
		t.Errorf("duration run: rows %d errors %d elapsed %s (wall %s)", r.Rows, r.Errors, r.Elapsed, d)
	}
}

func TestInsertLoopGenerators(t *testing.T) {
	exec(t, primary, `DROP TABLE IF EXISTS ins_gen`)
	exec(t, primary, `CREATE TABLE ins_gen (id text PRIMARY KEY, name text, size int, ratio float8, u uuid,
		ok bool, at timestamptz, kind text, nothing text, small smallint)`)
	r, err := InsertLoop(t.Context(), InsertConfig{
		DSN:   primary.DSN,
		SQL:   `INSERT INTO ins_gen VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		Args:  []string{"id", "text:8", "int:5:7", "float", "uuid", "bool", "now", "const:image/png", "null", "int:-3:-3"},
		Rows:  200,
		RunID: "gen",
	})
	if err != nil || r.Rows != 200 || r.Errors != 0 {
		t.Fatalf("rows %d errors %d %v: %v", r.Rows, r.Errors, r.ErrorSamples, err)
	}
	for query, want := range map[string]int64{
		`SELECT count(*) FROM ins_gen WHERE id ~ '^gen-[0-9]+$'`:                    200,
		`SELECT count(*) FROM ins_gen WHERE name ~ '^[a-z0-9]{8}$'`:                 200,
		`SELECT count(*) FROM ins_gen WHERE size BETWEEN 5 AND 7`:                   200,
		`SELECT count(*) FROM ins_gen WHERE ratio >= 0 AND ratio < 1`:               200,
		`SELECT count(DISTINCT u) FROM ins_gen`:                                     200,
		`SELECT count(*) FROM ins_gen WHERE at > now() - interval '1 minute'`:       200,
		`SELECT count(*) FROM ins_gen WHERE kind = 'image/png' AND nothing IS NULL`: 200,
		`SELECT count(*) FROM ins_gen WHERE small = -3`:                             200,
		`SELECT count(DISTINCT ok) FROM ins_gen`:                                    2,
	} {
		if got := queryInt(t, primary, query); got != want {
			t.Errorf("%s = %d, want %d", query, got, want)
		}
	}

	// Without Args the generators follow the parameter types.
	r, err = InsertLoop(t.Context(), InsertConfig{
		DSN:   primary.DSN,
		SQL:   `INSERT INTO ins_gen (id, name, size, ratio, u, ok, at, small) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		Rows:  100,
		RunID: "inferred",
	})
	if err != nil || r.Rows != 100 || r.Errors != 0 {
		t.Fatalf("inferred: rows %d errors %d %v: %v", r.Rows, r.Errors, r.ErrorSamples, err)
	}
	if got := queryInt(t, primary, `SELECT count(*) FROM ins_gen WHERE id LIKE 'inferred-%' AND length(name) = 16 AND u IS NOT NULL`); got != 100 {
		t.Errorf("inferred rows = %d", got)
	}
}

func TestInsertLoopConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  InsertConfig
		want string
	}{
		{InsertConfig{DSN: primary.DSN, Rows: 1}, "no SQL statement"},
		{InsertConfig{DSN: primary.DSN, SQL: "SELECT 1"}, "set Rows or Duration"},
		{InsertConfig{DSN: primary.DSN, SQL: "INSERT INTO nowhere VALUES ($1)", Rows: 1}, `prepare "INSERT INTO nowhere VALUES ($1)"`},
		{InsertConfig{DSN: primary.DSN, SQL: "SELECT $1::int, $2::int", Args: []string{"row"}, Rows: 1}, "the statement has 2 parameters but 1 Args are given"},
		{InsertConfig{DSN: primary.DSN, SQL: "SELECT $1::int", Args: []string{"dice"}, Rows: 1}, `argument "dice": unknown generator`},
		{InsertConfig{DSN: primary.DSN, SQL: "SELECT $1::int, $2::point", Rows: 1}, "parameter $2 has type OID 600: no default generator, set Args"},
		{InsertConfig{DSN: unreachable(t).DSN, SQL: "SELECT 1", Rows: 1}, "pg: insert loop: client 1: connect:"},
	} {
		_, err := InsertLoop(t.Context(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.cfg.SQL, err, tc.want)
		}
	}
}

func TestArgSpecs(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for spec, want := range map[string]string{
		"row": `^42$`, "id": `^r-42$`, "int:3:3": `^3$`, "text:4": `^[a-z0-9]{4}$`, "text:0": `^$`,
		"uuid": `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, "const:a:b": `^a:b$`,
		"bool": `^[tf]$`, "float": `^0(\.[0-9]+)?(e-[0-9]+)?$|^[0-9.e-]+$`,
	} {
		g, err := parseArg(spec, "r")
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		got := g(make([]byte, 0, 8), 42, rnd)
		if got == nil || !regexp.MustCompile(want).Match(got) {
			t.Errorf("%s = %q, want %s", spec, got, want)
		}
	}
	if g, _ := parseArg("null", "r"); g(make([]byte, 0, 8), 1, rnd) != nil {
		t.Error("null must send NULL")
	}
	for _, bad := range []string{"int:5:1", "int:x", "text:-1", "const", "nope"} {
		if _, err := parseArg(bad, "r"); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	if _, ok := h.quantile(0.5); ok {
		t.Error("empty histogram has no quantile")
	}
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond} {
		got, _ := h.quantile(q)
		if got < want || float64(got) > float64(want)*1.011 {
			t.Errorf("q%.2f = %s, want %s within 1%%", q, got, want)
		}
	}
}
