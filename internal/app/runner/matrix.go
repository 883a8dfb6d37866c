package runner

import (
	"maps"
	"slices"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/app/report"
)

// matrixChoice is the value one matrix var takes in a combination.
type matrixChoice struct {
	name string
	ov   Override
}

// combinations lists every combination of the matrix's values, the first
// var outermost. A var given on the command line or in a var file
// (overrides) takes that one value: --var pins a matrix var.
func combinations(m *dsl.Matrix, overrides map[string]Override) [][]matrixChoice {
	out := [][]matrixChoice{nil}
	for _, a := range m.Axes {
		values := make([]Override, 0, len(a.Values))
		if o, pinned := overrides[a.Name]; pinned {
			values = append(values, o)
		} else {
			for _, v := range a.Values {
				values = append(values, Override{Value: v.Text, Pos: v.Pos})
			}
		}
		var next [][]matrixChoice
		for _, prefix := range out {
			for _, v := range values {
				next = append(next, append(append([]matrixChoice(nil), prefix...), matrixChoice{a.Name, v}))
			}
		}
		out = next
	}
	return out
}

// loadMatrix loads a scenario once per combination of its matrix, each
// with the combination's values as overrides of its vars (a value that
// does not fit the var's type is an error at the value). A problem that
// does not depend on the values is reported once.
func loadMatrix(sc *dsl.Scenario, data []byte, overrides map[string]Override, used map[string]bool, cfg loadConfig, clusters *clusterFiles) ([]*Loaded, error) {
	var out []*Loaded
	var errs dsl.ErrorList
	for _, combo := range combinations(sc.Matrix, overrides) {
		ov := maps.Clone(overrides)
		if ov == nil {
			ov = map[string]Override{}
		}
		labels := make([]report.MatrixVar, len(combo))
		for i, c := range combo {
			ov[c.name] = c.ov
			labels[i] = report.MatrixVar{Name: c.name, Value: c.ov.Value}
		}
		declared := map[string]bool{}
		l, err := loadParsed(sc, data, ov, declared, cfg, clusters)
		for name := range declared {
			if _, given := overrides[name]; given {
				used[name] = true
			}
		}
		if _, usage := err.(*UsageError); usage {
			return nil, err
		}
		if err != nil {
			errs.Add(err) // Err reports each problem once
			continue
		}
		l.Matrix = labels
		out = append(out, l)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// kindFromVars resolves ${var} references in a step's kind (kind: ${fault}
// with a matrix of fault kinds), returning a copy of the step with the kind
// resolved; a reference to a step's value is an error at the kind.
func kindFromVars(spec *dsl.Step, vars map[string]any) (*dsl.Step, *dsl.Error) {
	if !dsl.HasRefs(spec.Kind) {
		return spec, nil
	}
	parts, err := dsl.ParseTemplate(spec.Kind)
	if err != nil {
		return nil, dsl.Errorf(spec.KindPos, "kind: %v", err)
	}
	for _, p := range parts {
		switch {
		case p.Ref == nil:
		case p.Ref.Step != "":
			return nil, dsl.Errorf(spec.KindPos, "kind: %s is recorded at run time: a step's kind can use only vars", p.Ref)
		case !hasKey(vars, p.Ref.Name):
			return nil, dsl.Errorf(spec.KindPos, "kind: undefined var %q%s", p.Ref.Name, dsl.DidYouMean(p.Ref.Name, slices.Collect(maps.Keys(vars))))
		}
	}
	kind, _ := dsl.Expand(parts, func(r dsl.Ref) (string, bool) { return dsl.VarString(vars[r.Name]), true })
	cp := *spec
	cp.Kind = kind
	if cp.Name == spec.Kind {
		cp.Name = kind
	}
	return &cp, nil
}
