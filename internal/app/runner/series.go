package runner

import (
	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/metric"
)

// runChecks are the checks each run evaluates: all of them when the
// scenario runs once (a distribution check then reads the one run's
// values), and those that are not distribution checks under --repeat.
func (l *Loaded) runChecks(runs int) []*LoadedCheck {
	if runs <= 1 {
		return l.Checks
	}
	var out []*LoadedCheck
	for _, c := range l.Checks {
		if !c.Check.Distribution() {
			out = append(out, c)
		}
	}
	return out
}

// runSeries sums up the runs of one scenario under --repeat: the
// distribution of every number metric, and the distribution checks
// evaluated once over every run. When the run was stopped (stop is its
// reason: Ctrl-C, --timeout, --fail-fast) before every run was made, or
// the cluster does not meet the scenario's requires, those checks are
// skipped.
func runSeries(l *Loaded, runs []*report.Scenario, stop string, o Observer) *report.Series {
	s := &report.Series{Name: l.Scenario.Name, File: l.Scenario.File, Matrix: l.Matrix, Runs: len(runs),
		Started: runs[0].Started, Finished: runs[len(runs)-1].Finished, Stats: report.Distributions(runs)}
	vals := make([]assertions.Values, 0, len(runs))
	complete, unmet := true, 0
	for _, r := range runs {
		if r.Passed() {
			s.Passed++
		}
		if !r.Ran() {
			complete = false
		}
		if r.Skipped != "" {
			unmet++
		}
		vals = append(vals, storeOf(r.Metrics))
	}
	skip := ""
	switch {
	case unmet == len(runs): // the cluster does not meet the scenario's requires
		skip = runs[0].Skipped
	case !complete && stop != "":
		skip = stop
	}
	for _, c := range l.Checks {
		if !c.Check.Distribution() {
			continue
		}
		if skip != "" {
			s.Checks = append(s.Checks, &report.Check{Name: c.Spec.Name, Expr: c.Spec.Expr, Pos: c.Spec.Pos, Status: report.Skipped, Message: skip})
			continue
		}
		s.Checks = append(s.Checks, c.result(c.Check.EvalRuns(vals, l.Vars)))
	}
	if so, ok := o.(SeriesObserver); ok {
		so.SeriesFinished(s)
	}
	return s
}

// storeOf is a store holding samples, in order.
func storeOf(samples []metric.Sample) *metric.Store {
	st := metric.NewStore()
	for _, s := range samples {
		_ = st.Record(s.Step, s.Name, s.Type, s.Value, s.At) // recorded once already: the types match
	}
	return st
}
