package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/metric"
)

// MatrixVar is one var of a matrix combination, its value as text.
type MatrixVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Series is one scenario, or one matrix combination of it, run several
// times (drill run --repeat N): the distribution of every number metric
// over the runs and the checks written over it.
type Series struct {
	Name   string      `json:"name"`
	File   string      `json:"file"`
	Matrix []MatrixVar `json:"matrix,omitempty"`
	// Started is when the first run started, Finished when the last ended.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Runs is how many runs were made; Passed how many of them passed.
	Runs   int      `json:"runs"`
	Passed int      `json:"passed"`
	Stats  []Stat   `json:"stats"`
	Checks []*Check `json:"checks"`
}

// Stat is the distribution of one number metric over the runs that
// recorded it: Name is step.metric (the step's id, or its name), or the
// bare metric name when no step recorded it.
type Stat struct {
	Name string `json:"name"`
	metric.Summary
}

// Label names a run for people and CI: the scenario's name, the matrix
// values, the run's number: "leader-kill [sync=on] (run 2 of 3)".
func (s *Scenario) Label() string {
	l := s.Name + MatrixLabel(s.Matrix)
	if s.Runs > 0 {
		l += fmt.Sprintf(" (run %d of %d)", s.Run, s.Runs)
	}
	return l
}

// Label names the series: "leader-kill [sync=on] (3 runs)".
func (s *Series) Label() string {
	return fmt.Sprintf("%s%s (%d runs)", s.Name, MatrixLabel(s.Matrix), s.Runs)
}

// Failed reports whether a run or a check over the runs did not pass.
func (s *Series) Failed() bool {
	return s.Passed < s.Runs || checksExitCode(s.Checks) != ExitPassed
}

// Ran reports whether the scenario's steps ran, rather than all being
// skipped because the run stopped before it (--fail-fast, Ctrl-C).
func (s *Scenario) Ran() bool { return !s.skippedWhole() }

// MatrixLabel is " [sync=on, fault=compose.kill]", or "" without a matrix.
func MatrixLabel(m []MatrixVar) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, len(m))
	for i, v := range m {
		parts[i] = v.Name + "=" + v.Value
	}
	return " [" + strings.Join(parts, ", ") + "]"
}

// Distributions summarizes every number metric over runs, in the order the
// metrics were first recorded. Within a run the latest value of each
// step.metric counts.
func Distributions(runs []*Scenario) []Stat {
	var order []string
	values := map[string][]float64{}
	for _, r := range runs {
		latest := map[string]float64{}
		for _, s := range r.Metrics {
			f, ok := s.Value.(float64)
			if !ok || s.Type != metric.Number {
				continue
			}
			key := s.Name
			if s.Step != "" {
				key = s.Step + "." + s.Name
			}
			if _, seen := values[key]; !seen {
				values[key] = nil
				order = append(order, key)
			}
			latest[key] = f
		}
		for k, f := range latest {
			values[k] = append(values[k], f)
		}
	}
	out := make([]Stat, 0, len(order))
	for _, k := range order {
		out = append(out, Stat{Name: k, Summary: metric.Summarize(values[k])})
	}
	return out
}

// SeriesFinished prints the distribution of every number metric over the
// runs of a series, the checks over the runs and the series' verdict.
func (c *Console) SeriesFinished(s *Series) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s = Masked(c.Mask, s)
	c.printf("%s\n", c.paint(bold, "series "+s.Label()))
	if len(s.Stats) > 0 {
		width := len("metric")
		for _, st := range s.Stats {
			width = max(width, len(st.Name))
		}
		c.printf("  %-*s %5s %10s %10s %10s %10s\n", width, "metric", "runs", "min", "median", "p95", "max")
		for _, st := range s.Stats {
			c.printf("  %-*s %5d %10s %10s %10s %10s\n", width, st.Name, st.Count,
				metric.FormatNumber(st.Min), metric.FormatNumber(st.Median), metric.FormatNumber(st.P95), metric.FormatNumber(st.Max))
		}
		if s.Runs < 20 {
			c.printf("  %s\n", c.paint(dim, "(p95 is the nearest rank: with fewer than 20 runs, the largest value)"))
		}
	}
	c.printChecks(fmt.Sprintf("checks over the %d runs", s.Runs), s.Checks)
	c.printf("  %s %s: %d of %d runs passed\n\n", c.verdict(s.Failed()), s.Label(), s.Passed, s.Runs)
}
