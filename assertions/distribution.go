package assertions

import (
	"fmt"
	"maps"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
)

// DistributionFuncs are the functions of a metric over the runs of
// `drill run --repeat N`: min, median, p95, max and mean of a number
// metric, and count of the runs that recorded a metric. A check that uses
// one reads every metric through them; it is evaluated once, after the
// last run (over a single run when there is no --repeat).
var DistributionFuncs = []string{"min", "median", "p95", "max", "mean", "count"}

// DistributionDocs describes the distribution functions for the docs.
var DistributionDocs = []string{
	"min(m), median(m), p95(m), max(m), mean(m): the statistic of the number metric m over the runs of --repeat (p95 is the nearest rank)",
	"count(m): how many runs recorded the metric m",
}

// distName is the environment entry that holds the values of a
// distribution check's calls, in order.
const distName = "__dist"

// dist is one distribution function call of a check.
type dist struct {
	fn string
	u  use
}

func (d dist) String() string { return d.fn + "(" + d.u.String() + ")" }

// CompileOption changes what Compile accepts.
type CompileOption func(*compileConfig)

type compileConfig struct{ distributions bool }

// Distributions lets the expression use the distribution functions: a
// scenario's end-of-run checks. Elsewhere (a step's expression) p95 is an
// error and min, max, mean, median and count are expr's builtins.
func Distributions() CompileOption { return func(c *compileConfig) { c.distributions = true } }

// distPatcher replaces each distribution call by __dist[i] before expr
// checks types, and records the first misuse.
type distPatcher struct {
	schema *Schema
	src    string
	allow  bool
	calls  []dist
	err    *CompileError
}

func (p *distPatcher) fail(loc file.Location, format string, args ...any) {
	if p.err == nil {
		p.err = locError(p.src, loc, fmt.Sprintf(format, args...))
	}
}

// locError is a CompileError at loc inside src.
func locError(src string, loc file.Location, msg string) *CompileError {
	fe := (&file.Error{Location: loc, Message: msg}).Bind(file.NewSource(src))
	return &CompileError{Line: fe.Line, Column: fe.Column, Msg: msg}
}

func (p *distPatcher) Visit(node *ast.Node) {
	var fn string
	var args []ast.Node
	switch n := (*node).(type) {
	case *ast.BuiltinNode:
		fn, args = n.Name, n.Arguments
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			fn, args = id.Value, n.Arguments
		}
	}
	if !slices.Contains(DistributionFuncs, fn) {
		return
	}
	loc := (*node).Location()
	var u use
	var t metric.Type
	ok := len(args) == 1
	if ok {
		u, t, ok = p.metricRef(args[0])
	}
	switch {
	case !ok && fn != "p95":
		return // expr's builtin: max(a, b), count(list, predicate)
	case !ok && len(args) == 1:
		if id, isID := args[0].(*ast.IdentifierNode); isID && id.Value != "vars" {
			if _, isStep := p.schema.Steps[id.Value]; !isStep {
				p.fail(args[0].Location(), "unknown metric %q: no step before this records it%s", id.Value, dsl.DidYouMean(id.Value, p.schema.Names()))
				return
			}
		}
		fallthrough
	case !ok:
		p.fail(loc, "p95 takes one number metric, e.g. p95(failover.rto_s)")
		return
	case !p.allow && fn == "p95":
		p.fail(loc, "p95(%s) is over the runs of --repeat: use it in the scenario's checks, not in a step", u)
		return
	case !p.allow:
		return // a step's expression: the builtin over one value
	case t != metric.Number && fn != "count":
		p.fail(loc, "%s(%s): %s is a %s; %s takes a number metric (count takes any)", fn, u, u, t, fn)
		return
	}
	idx := slices.Index(p.calls, dist{fn, u})
	if idx < 0 {
		idx = len(p.calls)
		p.calls = append(p.calls, dist{fn, u})
	}
	ast.Patch(node, &ast.MemberNode{Node: &ast.IdentifierNode{Value: distName}, Property: &ast.IntegerNode{Value: idx}})
}

// metricRef reports whether n names a metric: a bare metric name or
// step.metric, with its type.
func (p *distPatcher) metricRef(n ast.Node) (use, metric.Type, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		t, ok := p.schema.Metrics[n.Value]
		return use{name: n.Value}, t, ok
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		prop, isStr := n.Property.(*ast.StringNode)
		if !ok || !isStr {
			return use{}, 0, false
		}
		t, ok := p.schema.Steps[id.Value][prop.Value]
		return use{step: id.Value, name: prop.Value}, t, ok
	}
	return use{}, 0, false
}

// distEnv is the schema's environment with the distribution values.
func distEnv(env types.Map) types.Map {
	out := maps.Clone(env)
	out[distName] = types.Array(types.Float64)
	return out
}

// Distribution reports whether the check uses distribution functions: it
// is evaluated once over every run, with EvalRuns.
func (c *Check) Distribution() bool { return len(c.dist) > 0 }

// EvalRuns evaluates a distribution check over the values of every run.
// A run that did not record a metric is left out of its distribution
// (count says how many runs did); a metric no run recorded is a
// *MissingError.
func (c *Check) EvalRuns(runs []Values, vars map[string]any) (Result, error) {
	var res Result
	var missing []string
	vals := make([]float64, len(c.dist))
	for i, d := range c.dist {
		var xs []float64
		for _, r := range runs {
			if s, ok := get(r, d.u); ok {
				f, _ := s.Value.(float64) // count takes any type: its values are not used
				xs = append(xs, f)
			}
		}
		if len(xs) == 0 {
			missing = append(missing, d.u.String())
			continue
		}
		vals[i], _ = metric.Summarize(xs).Of(d.fn)
		res.Seen = append(res.Seen, Seen{Name: d.String(), Value: vals[i]})
	}
	if len(missing) > 0 {
		return res, &MissingError{Names: missing, Runs: len(runs)}
	}
	return c.run(res, map[string]any{distName: vals, "vars": vars})
}
