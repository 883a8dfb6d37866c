package steps

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
)

// Built is a step decoded, validated and ready to run.
type Built struct {
	Spec    *dsl.Step
	Kind    *Kind
	Step    Step
	Metrics []metric.Spec
	Timeout time.Duration
	// Key names the step in the metric store: its id, or "" when it has none.
	Key string

	runtimeRefs bool
	bc          BuildContext // kept to decode again at run time
}

// BuildContext carries what building a step needs at load time.
type BuildContext struct {
	File string
	// Src is the whole file, to locate lines inside block scalars; may be nil.
	Src  []byte
	Vars map[string]any
	// Schema holds the metrics recorded by the steps before this one: what a
	// check or wait_until expression may name.
	Schema *assertions.Schema
	// CheckRef validates a ${step.metric} reference.
	CheckRef func(ref dsl.Ref) error
	// Targets, when set, checks the targets of tagged parameters against
	// the cluster block.
	Targets *TargetNames

	nodes map[string]*yaml.Node
	step  *dsl.Step
}

// Build decodes spec's parameters into a new step of its kind, validates
// them and runs the kind's Build hook. Every problem is returned, as a
// dsl.ErrorList.
func Build(spec *dsl.Step, bc BuildContext) (*Built, error) {
	kind, ok := Lookup(spec.Kind)
	if !ok {
		return nil, dsl.Errorf(spec.KindPos, "unknown step kind %q%s (drill kinds lists them)", spec.Kind, dsl.DidYouMean(spec.Kind, KindNames()))
	}
	b := &Built{Spec: spec, Kind: kind, Timeout: kind.Timeout, Key: spec.ID}
	if spec.Timeout > 0 {
		b.Timeout = spec.Timeout
	}
	step, runtimeRefs, err := decodeStep(spec, kind, &bc, nil)
	if err != nil {
		return nil, err
	}
	if bc.Targets != nil {
		if err := bc.positioned(checkTargets(step, bc.Targets)); err != nil {
			return nil, err
		}
	}
	b.Step, b.runtimeRefs, b.bc = step, runtimeRefs, bc
	if t, ok := step.(Timeouter); ok && spec.Timeout == 0 {
		b.Timeout = t.DefaultTimeout()
	}
	b.Metrics = MetricsOf(kind, step)
	return b, nil
}

func decodeStep(spec *dsl.Step, kind *Kind, bc *BuildContext, resolve func(dsl.Ref) (string, bool)) (Step, bool, error) {
	step := kind.New()
	dc := &dsl.DecodeContext{File: bc.File, Where: spec.Kind, Vars: bc.Vars, CheckRef: bc.CheckRef, Resolve: resolve, SiblingKeys: dsl.StepCommonKeys}
	dc.DecodeStruct(spec.Params, step)
	if len(dc.Errs) > 0 {
		return nil, false, dc.Errs
	}
	bc.nodes, bc.step = dc.FieldNodes, spec
	var errs dsl.ErrorList
	if v, ok := step.(Validator); ok {
		errs.Add(bc.positioned(v.Validate()))
	}
	if bl, ok := step.(Builder); ok && len(errs) == 0 {
		errs.Add(bc.positioned(bl.Build(bc)))
	}
	if err := errs.Err(); err != nil {
		return nil, false, err
	}
	return step, dc.RuntimeRefs, nil
}

// Resolve returns the step to run: the one built at load time, or, when its
// parameters refer to values recorded by earlier steps, a fresh one decoded
// with those values filled in.
func (b *Built) Resolve(lookup func(dsl.Ref) (string, bool)) (Step, error) {
	if !b.runtimeRefs {
		return b.Step, nil
	}
	bc := b.bc
	step, _, err := decodeStep(b.Spec, b.Kind, &bc, lookup)
	if err != nil {
		return nil, fmt.Errorf("resolving references: %w", err)
	}
	return step, nil
}

// positioned attaches a position to an error from Validate or Build: a
// *FieldError points at its parameter, a *dsl.Error keeps its own, anything
// else points at the step.
func (bc *BuildContext) positioned(err error) error {
	if err == nil {
		return nil
	}
	switch e := err.(type) {
	case dsl.ErrorList, *dsl.Error:
		return err
	case *FieldError:
		return dsl.Errorf(bc.FieldPos(e.Field), "%s", e.Error())
	}
	return dsl.Errorf(bc.step.Pos, "%s: %v", bc.step.Kind, err)
}

// FieldPos is the position of one of the step's parameters, or of the step
// when the parameter was not given.
func (b *Built) FieldPos(field string) dsl.Pos { return b.bc.FieldPos(field) }

// StepID is the id of the step being built ("" when it has none).
func (bc *BuildContext) StepID() string { return bc.step.ID }

// FieldPos is the position of a parameter's value, or of the step when the
// parameter was not given.
func (bc *BuildContext) FieldPos(field string) dsl.Pos {
	if n, ok := bc.nodes[field]; ok {
		return dsl.At(bc.File, n)
	}
	return bc.step.Pos
}

// KeyPos is the position of the value of key inside the mapping given as
// parameter field (set: {nofailover: true} -> the true), else of the field.
func (bc *BuildContext) KeyPos(field, key string) dsl.Pos {
	if n, ok := bc.nodes[field]; ok && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return dsl.At(bc.File, n.Content[i+1])
			}
		}
	}
	return bc.FieldPos(field)
}

// Compile compiles the expression given in parameter field against the
// metrics recorded before this step. A compile error points at the exact
// column inside the expression when it can be known.
func (bc *BuildContext) Compile(field, src string) (*assertions.Check, error) {
	check, err := assertions.Compile(src, bc.Schema)
	if err == nil {
		return check, nil
	}
	text := dsl.TextPos{Start: bc.FieldPos(field)}
	if n, ok := bc.nodes[field]; ok {
		text = dsl.ScalarText(bc.File, bc.Src, n)
	}
	return nil, assertions.PosError(text, field, err)
}

// BuildNested builds a step written inside another step's parameters (the
// poll step of wait_until), with the same vars and schema.
func (bc *BuildContext) BuildNested(n *yaml.Node) (*Built, error) {
	spec, err := dsl.ParseStep(bc.File, n)
	if err != nil {
		return nil, err
	}
	if spec.ID != "" {
		pos := spec.Pos
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "id" {
				pos = dsl.At(bc.File, n.Content[i+1])
			}
		}
		return nil, dsl.Errorf(pos, "id %q is not used: a nested step records under the id of its %s step; remove it, or give the id to the %s", spec.ID, bc.step.Kind, bc.step.Kind)
	}
	if spec.ExpectError != nil {
		return nil, dsl.Errorf(spec.Pos, "expect_error has no effect on a nested step: give it to the %s", bc.step.Kind)
	}
	return Build(spec, *bc)
}

// StandIn returns, for a step that failed to build, what later steps and
// checks may assume it records, so that one broken step does not turn every
// use of its metrics into an "unknown metric" error: a Built without a Step,
// with the metrics of its kind (with default parameters), or of the kind its
// misspelt name suggests. It returns nil when no kind comes close.
func StandIn(spec *dsl.Step) *Built {
	kind, ok := Lookup(spec.Kind)
	if !ok {
		if kind, ok = Lookup(dsl.Suggest(spec.Kind, KindNames())); !ok {
			return nil
		}
	}
	return &Built{Spec: spec, Kind: kind, Key: spec.ID, Metrics: MetricsOf(kind, kind.New())}
}
