package control

import (
	"context"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

// The poll: of wait_until, check and guard.start: a step run before each
// evaluation of an expression, whose metrics the expression may read.

// compilePolled builds the poll step written at node (nil: none) and
// compiles src, the parameter field, against the metrics recorded before
// this step plus the poll step's (under this step's id). With readOnly, a
// poll step of a fault kind is refused.
func compilePolled(bc *steps.BuildContext, field, src string, node *yaml.Node, readOnly bool) (*assertions.Check, *steps.Built, error) {
	inner := *bc
	var poll *steps.Built
	if node != nil {
		p, err := bc.BuildNested(node)
		if err != nil {
			return nil, nil, err
		}
		if readOnly && p.Kind.Fault {
			return nil, nil, steps.FieldErrorf("poll", "%s injects a fault: a guard's poll step runs again and again in the background and must only read", p.Spec.Kind)
		}
		poll = p
		inner.Schema = bc.Schema.Clone()
		inner.Schema.Add(bc.StepID(), poll.Metrics)
	}
	check, err := inner.Compile(field, src)
	if err != nil {
		return nil, nil, err
	}
	return check, poll, nil
}

// runPoll runs the poll step, recording under the id of the step that owns
// it, under the poll step's own time limit; its ${step.metric} references
// are resolved through lookup.
func runPoll(ctx context.Context, env *steps.Env, poll *steps.Built, lookup func(dsl.Ref) (string, bool)) error {
	inner := *env
	p := *poll
	p.Key = env.Step.Key
	inner.Step = &p
	ctx, cancel := context.WithTimeout(ctx, poll.Timeout)
	defer cancel()
	step, err := p.Resolve(lookup)
	if err != nil {
		return err
	}
	return step.Run(ctx, &inner)
}

// pollMetrics is what a step with a poll declares beyond its own metrics.
func pollMetrics(poll *steps.Built) []metric.Spec {
	if poll == nil {
		return nil
	}
	return poll.Metrics
}
