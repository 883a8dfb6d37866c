package assertions

import (
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/metric"
)

func TestDistributionCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, msg  string
		line, col int
		step      bool // compiled as a step's expression (no Distributions)
	}{
		{src: "p95(rto_ss) < 30", msg: `unknown metric "rto_ss": no step before this records it; did you mean "rto_s"?`, line: 1, col: 4},
		{src: "p95(rto_s * 2) < 30", msg: "p95 takes one number metric, e.g. p95(failover.rto_s)", line: 1, col: 0},
		{src: "p95(rto_s, 2) < 30", msg: "p95 takes one number metric, e.g. p95(failover.rto_s)", line: 1, col: 0},
		{src: "p95(vars.limit) < 30", msg: "p95 takes one number metric, e.g. p95(failover.rto_s)", line: 1, col: 0},
		{src: "max(leader) == 0", msg: "max(leader): leader is a string; max takes a number metric (count takes any)", line: 1, col: 0},
		{src: "median(stop.fault_at) > 0", msg: "median(stop.fault_at): stop.fault_at is a time; median takes a number metric (count takes any)", line: 1, col: 0},
		{src: "p95(rto_s) < 30 &&\n  lost_writes == 0", msg: "lost_writes reads one run's value in a check over the runs (it uses p95(rto_s)): write max(lost_writes), min(lost_writes) or another distribution function", line: 2, col: 2},
		{src: "max(lost_writes) == 0 && wait.rto_s < 3", msg: "wait.rto_s reads one run's value in a check over the runs (it uses max(lost_writes)): write max(wait.rto_s), min(wait.rto_s) or another distribution function", line: 1, col: 25},
		{src: "p95(rto_s)", msg: "expected bool, but got float64", line: 1, col: 0},
		{src: `count(leader) == "3"`, msg: "invalid operation: == (mismatched types float64 and string)", line: 1, col: 14},
		{src: "p95(rto_s) < 30", msg: "p95(rto_s) is over the runs of --repeat: use it in the scenario's checks, not in a step", line: 1, col: 0, step: true},
	} {
		opts := []CompileOption{Distributions()}
		if tc.step {
			opts = nil
		}
		wantCompileError(t, tc.src, tc.msg, tc.line, tc.col, opts...)
	}
}

// TestBuiltinsStay: outside a distribution (a step's expression, or a call
// that is not one metric), min, max, mean, median and count are expr's.
func TestBuiltinsStay(t *testing.T) {
	t.Parallel()
	store := metric.NewStore()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	if err := store.Record("wait", "rto_s", metric.Number, 7.0, at); err != nil {
		t.Fatal(err)
	}
	if err := store.Record("wait", "members", metric.StringList, []string{"a", "b"}, at); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src  string
		dist bool
		opts []CompileOption
	}{
		{src: "max(rto_s) == 7"}, // a step: the builtin over one value
		{src: "max(rto_s, 9) == 9", opts: []CompileOption{Distributions()}}, // two arguments: the builtin
		{src: `count(members, # == "a") == 1`, opts: []CompileOption{Distributions()}},
		{src: "median([1, 2, 3]) == 2 && min(rto_s, 1) == 1", opts: []CompileOption{Distributions()}},
		{src: "max(rto_s) == 7", dist: true, opts: []CompileOption{Distributions()}},
	} {
		c, err := Compile(tc.src, testSchema(), tc.opts...)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.src, err)
			continue
		}
		if c.Distribution() != tc.dist {
			t.Errorf("Compile(%q).Distribution() = %v, want %v", tc.src, c.Distribution(), tc.dist)
		}
		var res Result
		if c.Distribution() {
			res, err = c.EvalRuns([]Values{store}, nil)
		} else {
			res, err = c.Eval(store, nil)
		}
		if err != nil || !res.OK {
			t.Errorf("Eval(%q) = %v, %v; want true", tc.src, res.OK, err)
		}
	}
}

func TestEvalRuns(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var runs []Values
	// Three runs; the third failed before it measured rto_s.
	for i, rto := range []float64{12, 10, 0} {
		store := metric.NewStore()
		record := func(step, name string, typ metric.Type, v any) {
			if err := store.Record(step, name, typ, v, at); err != nil {
				t.Fatal(err)
			}
		}
		if i < 2 {
			record("wait", "rto_s", metric.Number, rto)
			record("wait", "leader", metric.String, "m")
		}
		record("", "lost_writes", metric.Number, float64(i))
		runs = append(runs, store)
	}
	vars := map[string]any{"limit": int64(60)}
	runEvalCases(t, []evalCase{
		{src: "p95(wait.rto_s) < 12", ok: false, seen: "p95(wait.rto_s) = 12"},
		{src: "min(rto_s) == 10 && max(rto_s) == 12 && median(rto_s) == 11 && mean(rto_s) == 11", ok: true,
			seen: "min(rto_s) = 10, max(rto_s) = 12, median(rto_s) = 11, mean(rto_s) = 11"},
		{src: "count(wait.leader) == 2 && count(lost_writes) == 3", ok: true, seen: "count(wait.leader) = 2, count(lost_writes) = 3"},
		{src: "max(lost_writes) == 0 || max(lost_writes) < vars.limit", ok: true, seen: "max(lost_writes) = 2"},
		{src: "max(lag_mb) < 1", miss: "not measured in any of the 3 runs: lag_mb (the step that records it did not run or failed)"},
	}, func(c *Check) (Result, error) { return c.EvalRuns(runs, vars) }, Distributions())
}
