package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/ledger"
	"github.com/drill-dev/drill/steps"
)

// faultLog is a scenario's view of the ledger: it writes each fault before
// it is applied and undoes what is still open when the scenario ends.
type faultLog struct {
	dir      string
	scenario string
	run      *scenarioRun

	mu     sync.Mutex
	ledger *ledger.Ledger
	open   []openFault
}

type openFault struct {
	entry ledger.Entry
	fault steps.Fault
}

// stepFaults is the FaultLog one step sees.
type stepFaults struct {
	log  *faultLog
	step *steps.Built
}

var _ steps.FaultLog = stepFaults{}

func (f *faultLog) forStep(b *steps.Built) steps.FaultLog { return stepFaults{log: f, step: b} }

// Inject writes the fault to the ledger, flushed, then applies it. When the
// ledger cannot be written the fault is not applied.
func (s stepFaults) Inject(ctx context.Context, fault steps.Fault, apply func(context.Context) error) error {
	f := s.log
	f.mu.Lock()
	if f.ledger == nil {
		l, err := ledger.Create(f.dir)
		if err != nil {
			f.mu.Unlock()
			return fmt.Errorf("not injecting %s: %w", fault.Desc, err)
		}
		f.ledger = l
	}
	entry, err := f.ledger.Open(ledger.Entry{
		Scenario: f.scenario, Step: s.step.Spec.Name, Pos: s.step.Spec.Pos.String(),
		Desc: fault.Desc, Op: fault.Undo.Op, Args: fault.Undo.Args,
	})
	if err != nil {
		f.mu.Unlock()
		return fmt.Errorf("not injecting %s: %w", fault.Desc, err)
	}
	f.open = append(f.open, openFault{entry: entry, fault: fault})
	f.mu.Unlock()
	f.run.event("fault", s.step.Spec.Name, "%s", fault.Desc)
	return apply(ctx)
}

// Resolved marks matching open faults as undone.
func (s stepFaults) Resolved(op, target string) error {
	f := s.log
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.open[:0]
	for _, o := range f.open {
		if o.fault.Undo.Op == op && o.fault.Target == target {
			if err := f.ledger.Mark(o.entry.ID, ledger.Done); err != nil {
				return err
			}
			f.run.event("undo", s.step.Spec.Name, "%s: undone by the step", o.fault.Desc)
			continue
		}
		kept = append(kept, o)
	}
	f.open = kept
	return nil
}

// undoAll undoes every open fault, newest first, and reports each. A fault
// the scenario keeps is marked kept and left in place.
func (f *faultLog) undoAll(ctx context.Context) []*report.Undo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*report.Undo
	for i := len(f.open) - 1; i >= 0; i-- {
		o := f.open[i]
		u := &report.Undo{Fault: o.fault.Desc, Step: o.entry.Step, At: time.Now()}
		out = append(out, u)
		if o.fault.Keep {
			u.Status = report.Skipped
			u.Message = fmt.Sprintf("kept in place as the scenario asks; undo it with: drill cleanup --state-dir %s", f.dir)
			if err := f.ledger.Mark(o.entry.ID, ledger.Kept); err != nil {
				u.Status, u.Message = report.Error, err.Error()
			}
			continue
		}
		if err := undo(ctx, f.run.infra, o.entry); err != nil {
			u.Status, u.Message = report.Error, fmt.Sprintf("could not undo: %v; the fault is still in the ledger: run drill cleanup --state-dir %s", err, f.dir)
		} else if err := f.ledger.Mark(o.entry.ID, ledger.Done); err != nil {
			u.Status, u.Message = report.Error, err.Error()
		} else {
			u.Status = report.Passed
		}
		f.run.event("undo", o.entry.Step, "%s: %s%s", o.fault.Desc, u.Status, suffix(u.Message))
	}
	f.open = nil
	if f.ledger != nil {
		if err := f.ledger.Close(); err != nil {
			out = append(out, &report.Undo{Fault: "ledger", Status: report.Error, Message: err.Error(), At: time.Now()})
		}
		f.ledger = nil
	}
	return out
}

// undo runs the registered undo of a ledger entry.
func undo(ctx context.Context, infra *steps.Infra, e ledger.Entry) error {
	fn, ok := steps.Undoer(e.Op)
	if !ok {
		return fmt.Errorf("unknown undo operation %q (was the ledger written by another drill version?)", e.Op)
	}
	return fn(ctx, infra, e.Args)
}

// Cleanup undoes every fault left open in the ledgers of stateDir (after
// drill was killed), newest first. newInfra builds the clients from the
// cluster settings the entries need.
func Cleanup(ctx context.Context, stateDir string, infra *steps.Infra) ([]*report.Undo, error) {
	entries, err := ledger.Pending(stateDir)
	if err != nil {
		return nil, err
	}
	var out []*report.Undo
	for _, e := range entries {
		u := &report.Undo{Fault: e.Desc, Step: e.Step, At: time.Now()}
		if err := undo(ctx, infra, e); err != nil {
			u.Status, u.Message = report.Error, err.Error()
		} else if err := ledger.MarkIn(e, ledger.Done); err != nil {
			u.Status, u.Message = report.Error, err.Error()
		} else {
			u.Status = report.Passed
		}
		out = append(out, u)
	}
	return out, nil
}
