// Package assertions compiles check expressions (github.com/expr-lang/expr)
// once, at load time, against the typed metrics a scenario's steps can
// record, and evaluates them after the run. A metric an expression uses but
// no step recorded is an evaluation error, never a zero.
package assertions

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
)

// Schema is what an expression may name: metrics by their bare name (the
// latest recorded value), each step id with the metrics of that step, and
// vars under "vars".
//
// Compile builds the expression environment from the schema once and
// reuses it until Add is called or Vars is replaced by another map; change
// Metrics and Steps through Add, and Vars before the first Compile.
type Schema struct {
	Metrics map[string]metric.Type
	Steps   map[string]map[string]metric.Type
	Vars    map[string]any // values fix the types

	cached     types.Map
	cachedVars map[string]any
}

// NewSchema returns an empty schema.
func NewSchema() *Schema {
	return &Schema{Metrics: map[string]metric.Type{}, Steps: map[string]map[string]metric.Type{}, Vars: map[string]any{}}
}

// Clone returns a copy that can grow independently.
func (s *Schema) Clone() *Schema {
	c := NewSchema()
	for k, v := range s.Metrics {
		c.Metrics[k] = v
	}
	for k, v := range s.Steps {
		m := make(map[string]metric.Type, len(v))
		for mk, mv := range v {
			m[mk] = mv
		}
		c.Steps[k] = m
	}
	for k, v := range s.Vars {
		c.Vars[k] = v
	}
	return c
}

// Add declares the metrics a step records; step is its id, or "" when the
// step has none (its metrics are then reachable by bare name only).
func (s *Schema) Add(step string, specs []metric.Spec) {
	s.cached = nil
	for _, sp := range specs {
		s.Metrics[sp.Name] = sp.Type
		if step != "" {
			if s.Steps[step] == nil {
				s.Steps[step] = map[string]metric.Type{}
			}
			s.Steps[step][sp.Name] = sp.Type
		}
	}
}

// exprType maps a metric type to expr's type system.
func exprType(t metric.Type) types.Type {
	switch t {
	case metric.Number:
		return types.Float64
	case metric.String:
		return types.String
	case metric.Bool:
		return types.Bool
	case metric.Time:
		return types.TypeOf(time.Time{})
	case metric.StringList:
		return types.Array(types.String)
	case metric.StringMap:
		return types.TypeOf(map[string]string{})
	}
	return types.Any
}

func (s *Schema) env() types.Map {
	if s.cached != nil && sameMap(s.cachedVars, s.Vars) {
		return s.cached
	}
	s.cached, s.cachedVars = s.buildEnv(), s.Vars
	return s.cached
}

func sameMap(a, b map[string]any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer() && len(a) == len(b)
}

func (s *Schema) buildEnv() types.Map {
	env := types.Map{}
	for name, t := range s.Metrics {
		env[name] = exprType(t)
	}
	for step, ms := range s.Steps {
		m := types.Map{}
		for name, t := range ms {
			m[name] = exprType(t)
		}
		env[step] = m
	}
	vars := types.Map{}
	for name, v := range s.Vars {
		vars[name] = types.TypeOf(v)
	}
	env["vars"] = vars
	return env
}

// Names lists every name an expression may use at top level, for
// suggestions.
func (s *Schema) Names() []string {
	var out []string
	for k := range s.Metrics {
		out = append(out, k)
	}
	for k := range s.Steps {
		out = append(out, k)
	}
	sort.Strings(out)
	return append(out, "vars")
}

// Check is a compiled expression.
type Check struct {
	Source  string
	program *vm.Program
	uses    []use  // metrics the expression reads, in order of appearance
	dist    []dist // distribution calls, in the order of __dist
}

// use is one metric an expression reads: a bare name, or step.name.
type use struct {
	step, name string
}

func (u use) String() string {
	if u.step == "" {
		return u.name
	}
	return u.step + "." + u.name
}

// Helper functions available in expressions, beyond expr's builtins. None
// reaches files, the environment or the network.
var helpers = []expr.Option{
	expr.Function("mb", func(p ...any) (any, error) { return toFloat(p[0]) / (1 << 20), nil },
		new(func(float64) float64)),
	expr.Function("between", func(p ...any) (any, error) {
		x := toFloat(p[0])
		return x >= toFloat(p[1]) && x <= toFloat(p[2]), nil
	}, new(func(float64, float64, float64) bool)),
	expr.Function("within", func(p ...any) (any, error) {
		return math.Abs(toFloat(p[0])-toFloat(p[1])) <= toFloat(p[2]), nil
	}, new(func(float64, float64, float64) bool)),
	expr.Function("seconds", func(p ...any) (any, error) { return p[0].(time.Duration).Seconds(), nil },
		new(func(time.Duration) float64)),
}

// HelperDocs describes the helper functions for `drill kinds` and the README.
var HelperDocs = []string{
	"mb(bytes): bytes in MiB",
	"between(x, lo, hi): lo <= x <= hi",
	"within(a, b, tolerance): |a - b| <= tolerance",
	"seconds(duration): a duration (e.g. t2 - t1 of two time metrics) in seconds",
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	}
	return math.NaN()
}

// CompileError is a compilation failure with the 1-based line and 0-based
// column inside the expression text.
type CompileError struct {
	Line, Column int
	Msg          string
}

func (e *CompileError) Error() string { return e.Msg }

// Compile type-checks src against the schema and returns a Check whose
// result is a bool. With Distributions, a check that uses a distribution
// function must read every metric through one.
func Compile(src string, schema *Schema, options ...CompileOption) (*Check, error) {
	var cfg compileConfig
	for _, o := range options {
		o(&cfg)
	}
	patch := &distPatcher{schema: schema, src: src, allow: cfg.distributions}
	env := schema.env()
	if cfg.distributions {
		env = distEnv(env)
	}
	opts := append([]expr.Option{expr.Env(env), expr.AsBool(), expr.Patch(patch)}, helpers...)
	program, err := expr.Compile(src, opts...)
	if patch.err != nil {
		return nil, patch.err
	}
	if err != nil {
		return nil, compileError(err, schema)
	}
	c := &Check{Source: src, program: program, dist: patch.calls}
	var at []file.Location
	c.uses, at = collectUses(program.Node(), schema)
	if len(c.dist) > 0 && len(c.uses) > 0 {
		u := c.uses[0]
		return nil, locError(src, at[0], fmt.Sprintf("%s reads one run's value in a check over the runs (it uses %s): write max(%s), min(%s) or another distribution function", u, c.dist[0], u, u))
	}
	return c, nil
}

func compileError(err error, schema *Schema) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return &CompileError{Line: 1, Msg: err.Error()}
	}
	msg := fe.Message
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		msg = fmt.Sprintf("unknown metric %q: no step before this records it%s", name, dsl.DidYouMean(name, schema.Names()))
	}
	return &CompileError{Line: fe.Line, Column: fe.Column, Msg: msg}
}

// collectUses finds the metrics an expression reads: identifiers that are
// metric names, and step.metric member accesses; and where each is first.
func collectUses(root ast.Node, schema *Schema) ([]use, []file.Location) {
	v := &useCollector{schema: schema, seen: map[use]bool{}}
	ast.Walk(&root, v)
	return v.uses, v.at
}

type useCollector struct {
	schema *Schema
	seen   map[use]bool
	uses   []use
	at     []file.Location
}

func (v *useCollector) add(u use, n ast.Node) {
	if !v.seen[u] {
		v.seen[u] = true
		v.uses = append(v.uses, u)
		v.at = append(v.at, n.Location())
	}
}

func (v *useCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if _, ok := v.schema.Metrics[n.Value]; ok {
			v.add(use{name: n.Value}, n)
		}
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok {
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return
		}
		if _, isStep := v.schema.Steps[id.Value]; isStep {
			v.add(use{step: id.Value, name: prop.Value}, id)
		}
	}
}

// Values is what a run recorded, as the metric store gives it.
type Values interface {
	Get(name string) (metric.Sample, bool)
	GetStep(step, name string) (metric.Sample, bool)
	Env() map[string]any
}

// Seen is one value an expression read, for reports: "rto_s = 71.3".
type Seen struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

func (s Seen) String() string { return s.Name + " = " + metric.Format(s.Value) }

// Result is the outcome of evaluating a check.
type Result struct {
	OK   bool
	Seen []Seen
}

// SeenString joins the values seen: "rto_s = 71.3, lost_writes = 0".
func (r Result) SeenString() string {
	parts := make([]string, len(r.Seen))
	for i, s := range r.Seen {
		parts[i] = s.String()
	}
	return strings.Join(parts, ", ")
}

// MissingError says which metrics a check needs that no step recorded; Runs
// is the number of runs of a distribution check (0 for one run's check).
type MissingError struct {
	Names []string
	Runs  int
}

func (e *MissingError) Error() string {
	if e.Runs > 0 {
		return fmt.Sprintf("not measured in any of the %d runs: %s (the step that records it did not run or failed)", e.Runs, strings.Join(e.Names, ", "))
	}
	return fmt.Sprintf("not measured: %s (the step that records it did not run or failed)", strings.Join(e.Names, ", "))
}

// Eval evaluates the check over recorded values. It fails with a
// *MissingError when a metric it reads was not recorded.
func (c *Check) Eval(vals Values, vars map[string]any) (Result, error) {
	var res Result
	var missing []string
	for _, u := range c.uses {
		s, ok := get(vals, u)
		if !ok {
			missing = append(missing, u.String())
			continue
		}
		res.Seen = append(res.Seen, Seen{Name: u.String(), Value: s.Value})
	}
	if len(missing) > 0 {
		return res, &MissingError{Names: missing}
	}
	env := vals.Env()
	env["vars"] = vars
	return c.run(res, env)
}

// run runs the program over env and completes res with the verdict.
func (c *Check) run(res Result, env map[string]any) (Result, error) {
	out, err := expr.Run(c.program, env)
	if err != nil {
		return res, fmt.Errorf("evaluating %q: %w", c.Source, err)
	}
	res.OK, _ = out.(bool)
	return res, nil
}

// get reads the metric u names from vals.
func get(vals Values, u use) (metric.Sample, bool) {
	if u.step == "" {
		return vals.Get(u.name)
	}
	return vals.GetStep(u.step, u.name)
}

// PosError is a compile error of an expression whose text is located by
// text, as a *dsl.Error: at the error's own line and column when they can be
// known, else where the expression starts; prefix names the expression
// ("check \"x\"", "expr"). When a YAML comment may have cut the expression
// short, the message says so and how to quote it.
func PosError(text dsl.TextPos, prefix string, err error) *dsl.Error {
	pos := text.Start
	var ce *CompileError
	if errors.As(err, &ce) {
		if p, ok := text.At(ce.Line, ce.Column); ok {
			pos = p
		}
	}
	return dsl.Errorf(pos, "%s: %v%s", prefix, err, text.CommentHint())
}
