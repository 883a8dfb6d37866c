package dsl

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxMatrixRuns bounds the combinations of a scenario's matrix: each is a
// whole run of the drill against the cluster.
const MaxMatrixRuns = 64

// MatrixReserved are names a matrix var cannot have: they are the labels
// drill gives its exported metrics (drill run --metrics) beside the matrix
// vars.
var MatrixReserved = []string{"scenario", "step", "run"}

// Matrix is a scenario's matrix: vars and the values each takes. The
// scenario runs once per combination, with those values as its vars.
type Matrix struct {
	Pos  Pos // the matrix key
	Axes []*MatrixAxis
}

// MatrixAxis is one var of a matrix and its values, in the order written.
type MatrixAxis struct {
	Pos    Pos // the var's key
	Name   string
	Values []MatrixValue
}

// MatrixValue is one value of a matrix var, as written.
type MatrixValue struct {
	Pos  Pos
	Text string // the scalar's text: converted to the var's type at load
}

// Runs is the number of combinations.
func (m *Matrix) Runs() int {
	n := 1
	for _, a := range m.Axes {
		n *= len(a.Values)
	}
	return n
}

// matrix parses matrix: {name: [value, ...], ...}.
func (p *parser) matrix(key, n *yaml.Node) *Matrix {
	if !p.expect(n, yaml.MappingNode, "matrix") {
		return nil
	}
	m := &Matrix{Pos: At(p.file, key)}
	for _, kv := range p.pairs(n, nil, "matrix") {
		a := &MatrixAxis{Pos: At(p.file, kv.keyNode), Name: kv.key}
		if kv.val.Kind != yaml.SequenceNode {
			p.errorf(kv.val, "matrix.%s must be a list of values, e.g. [off, on], found %s", kv.key, describe(kv.val))
			continue
		}
		if len(kv.val.Content) == 0 {
			p.errorf(kv.val, "matrix.%s is empty: give at least one value (remove it to use the var's default)", kv.key)
			continue
		}
		for _, item := range kv.val.Content {
			if item.Kind != yaml.ScalarNode || item.ShortTag() == "!!null" {
				p.errorf(item, "matrix.%s: each value must be a single value (text, number or true/false), found %s", kv.key, describe(item))
				continue
			}
			if i := slices.IndexFunc(a.Values, func(v MatrixValue) bool { return v.Text == item.Value }); i >= 0 {
				p.errorf(item, "matrix.%s: duplicate value %q (first at line %d)", kv.key, item.Value, a.Values[i].Pos.Line)
				continue
			}
			a.Values = append(a.Values, MatrixValue{Pos: At(p.file, item), Text: item.Value})
		}
		m.Axes = append(m.Axes, a)
	}
	if len(m.Axes) == 0 && len(n.Content) == 0 {
		p.errorf(n, "matrix is empty: give vars and their values, e.g. matrix: {sync: [off, on]}, or remove it")
	}
	return m
}

// checkMatrix checks the matrix against the scenario's vars: each name a
// declared var that is not secret and not a reserved name, and at most
// MaxMatrixRuns combinations.
func (p *parser) checkMatrix(sc *Scenario) {
	m := sc.Matrix
	if m == nil {
		return
	}
	names := make([]string, len(sc.Vars))
	for i, v := range sc.Vars {
		names[i] = v.Name
	}
	for _, a := range m.Axes {
		i := slices.Index(names, a.Name)
		switch {
		case slices.Contains(MatrixReserved, a.Name):
			p.errs = append(p.errs, Errorf(a.Pos, "matrix var %q: %s are the labels of drill's exported metrics: rename the var", a.Name, strings.Join(MatrixReserved, ", ")))
		case i < 0:
			p.errs = append(p.errs, Errorf(a.Pos, "matrix: no var named %q%s (a matrix var is declared under vars: with its default)", a.Name, DidYouMean(a.Name, names)))
		case sc.Vars[i].Secret:
			p.errs = append(p.errs, Errorf(a.Pos, "matrix var %q is secret: a matrix value is shown in every report; make it a plain var", a.Name))
		}
	}
	if n := m.Runs(); n > MaxMatrixRuns {
		p.errs = append(p.errs, Errorf(m.Pos, "matrix has %d combinations, more than %d: each is a whole run of the drill; split it into several scenarios or give fewer values", n, MaxMatrixRuns))
	}
}
