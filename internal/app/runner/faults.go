package runner

import (
	"context"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/steps"
)

// undoReport turns what became of the faults into the report's undo rows.
func undoReport(outcomes []fault.Outcome) []*report.Undo {
	out := make([]*report.Undo, len(outcomes))
	for i, o := range outcomes {
		u := &report.Undo{Fault: o.Fault, Step: o.Step, At: o.At, Message: o.Message}
		switch o.State {
		case fault.Done:
			u.Status = report.Passed
		case fault.Kept:
			u.Status = report.Skipped
		default:
			u.Status = report.Error
		}
		out[i] = u
	}
	return out
}

// Cleanup undoes every fault left open or kept in the ledgers of stateDir
// (after drill was killed), newest first, reaching each platform from what
// the ledger recorded.
func Cleanup(ctx context.Context, stateDir string, ports *steps.Ports) ([]*report.Undo, error) {
	outcomes, err := fault.Replay(ctx, stateDir, ports)
	return undoReport(outcomes), err
}
