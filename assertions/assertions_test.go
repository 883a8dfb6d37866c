package assertions

import (
	"errors"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/metric"
)

func testSchema() *Schema {
	s := NewSchema()
	s.Add("stop", []metric.Spec{{Name: "fault_at", Type: metric.Time}, {Name: "service", Type: metric.String}})
	s.Add("wait", []metric.Spec{{Name: "rto_s", Type: metric.Number}, {Name: "leader", Type: metric.String}, {Name: "members", Type: metric.StringList}})
	s.Add("", []metric.Spec{{Name: "lost_writes", Type: metric.Number}, {Name: "lag_mb", Type: metric.Number}})
	s.Vars["limit"] = int64(60)
	return s
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, msg  string
		line, col int
	}{
		{"rto_ss < 60", `unknown metric "rto_ss": no step before this records it; did you mean "rto_s"?`, 1, 0},
		{"lag < 1", `unknown metric "lag": no step before this records it`, 1, 0},
		{`leader < 60`, "invalid operation: < (mismatched types string and int)", 1, 7},
		{"rto_s", "expected bool, but got float64", 1, 0},
		{"rto_s <", "unexpected token EOF", 1, 6},
		{"wait.nope > 1", "unknown field nope", 1, 5},
		{"vars.limt > 1", "unknown field limt", 1, 5},
		{"rto_s < 60 &&\n  leader == 3", "invalid operation: == (mismatched types string and int)", 2, 9},
	} {
		wantCompileError(t, tc.src, tc.msg, tc.line, tc.col)
	}
}

// wantCompileError fails unless compiling src with opts gives the error
// msg at line:col.
func wantCompileError(t *testing.T, src, msg string, line, col int, opts ...CompileOption) {
	t.Helper()
	_, err := Compile(src, testSchema(), opts...)
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Errorf("Compile(%q) = %v, want a *CompileError", src, err)
		return
	}
	if ce.Msg != msg || ce.Line != line || ce.Column != col {
		t.Errorf("Compile(%q) = %d:%d %q, want %d:%d %q", src, ce.Line, ce.Column, ce.Msg, line, col, msg)
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := metric.NewStore()
	for _, r := range []struct {
		step, name string
		typ        metric.Type
		v          any
	}{
		{"stop", "fault_at", metric.Time, at},
		{"wait", "rto_s", metric.Number, 71.3},
		{"wait", "leader", metric.String, "postgres-standby1"},
		{"wait", "members", metric.StringList, []string{"a", "b", "c"}},
		{"", "lag_mb", metric.Number, 0.25},
	} {
		if err := store.Record(r.step, r.name, r.typ, r.v, at); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]any{"limit": int64(60)}
	runEvalCases(t, []evalCase{
		{src: "rto_s < 60", ok: false, seen: "rto_s = 71.3"},
		{src: "wait.rto_s < vars.limit + 20", ok: true, seen: "wait.rto_s = 71.3"},
		{src: `leader != "postgres-master" && len(members) == 3`, ok: true, seen: `leader = "postgres-standby1", members = [a, b, c]`},
		{src: "lag_mb < 1 && mb(1048576) == 1 && between(rto_s, 60, 80) && within(rto_s, 70, 2)", ok: true, seen: "lag_mb = 0.25, rto_s = 71.3"},
		{src: "seconds(now() - stop.fault_at) > 0", ok: true, seen: "stop.fault_at = 2026-11-27T12:00:00.000Z"},
		{src: "lost_writes == 0", miss: "not measured: lost_writes (the step that records it did not run or failed)"},
		{src: "stop.service == \"x\" || rto_s > 1", miss: "not measured: stop.service (the step that records it did not run or failed)"},
	}, func(c *Check) (Result, error) { return c.Eval(store, vars) })
}

// evalCase is an expression and what evaluating it gives: a verdict and
// the values seen, or (miss) a *MissingError with that text.
type evalCase struct {
	src  string
	ok   bool
	seen string
	miss string
}

// runEvalCases compiles each case with opts and evaluates it with eval.
func runEvalCases(t *testing.T, cases []evalCase, eval func(*Check) (Result, error), opts ...CompileOption) {
	t.Helper()
	for _, tc := range cases {
		c, err := Compile(tc.src, testSchema(), opts...)
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.src, err)
			continue
		}
		res, err := eval(c)
		if tc.miss != "" {
			var me *MissingError
			if !errors.As(err, &me) || err.Error() != tc.miss {
				t.Errorf("eval(%q) error = %v, want %q", tc.src, err, tc.miss)
			}
			continue
		}
		if err != nil {
			t.Errorf("eval(%q): %v", tc.src, err)
			continue
		}
		if res.OK != tc.ok || res.SeenString() != tc.seen {
			t.Errorf("eval(%q) = %v %q, want %v %q", tc.src, res.OK, res.SeenString(), tc.ok, tc.seen)
		}
	}
}

// TestSchemaEnvFollowsChanges checks that the environment Compile reuses
// is rebuilt after Add and after Vars is replaced.
func TestSchemaEnvFollowsChanges(t *testing.T) {
	t.Parallel()
	s := NewSchema()
	if _, err := Compile("rto_s < 60", s); err == nil {
		t.Fatal("rto_s compiles before any step records it")
	}
	s.Add("wait", []metric.Spec{{Name: "rto_s", Type: metric.Number}})
	if _, err := Compile("rto_s < 60 && wait.rto_s < 60", s); err != nil {
		t.Fatalf("after Add: %v", err)
	}
	if _, err := Compile("vars.limit > 1", s); err == nil {
		t.Fatal("vars.limit compiles before the var exists")
	}
	s.Vars = map[string]any{"limit": int64(3)}
	if _, err := Compile("vars.limit > 1", s); err != nil {
		t.Fatalf("after Vars is replaced: %v", err)
	}
}
