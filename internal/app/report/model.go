// Package report holds the result model of a drill run, kept apart from
// its formats, and the writers: console, JUnit XML and the JSON journal.
package report

import (
	"time"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/timeline"
)

// Status is the outcome of a step, check or undo.
type Status string

// The outcomes. A step that failed with continue_on_error is Ignored.
const (
	Passed  Status = "passed"
	Failed  Status = "failed" // a check (or a check step) was false
	Error   Status = "error"  // could not run, or its infrastructure failed
	Ignored Status = "ignored"
	Skipped Status = "skipped"
)

// Exit codes of drill.
const (
	ExitPassed      = 0
	ExitCheckFailed = 1
	ExitInvalid     = 2
	ExitError       = 3
	ExitInterrupted = 130
)

// Run is one invocation of drill run.
type Run struct {
	Started     time.Time   `json:"started"`
	Finished    time.Time   `json:"finished"`
	Interrupted bool        `json:"interrupted"`
	Scenarios   []*Scenario `json:"scenarios"`
	// Drill is the version of drill that ran (absent in older journals).
	Drill string `json:"drill,omitempty"`
	// HTML is the path of the HTML report written with this run (drill run
	// --html), which the JUnit report links to.
	HTML string `json:"html,omitempty"`
	// Series are the scenarios run more than once (drill run --repeat):
	// the distributions and the checks over the runs.
	Series []*Series `json:"series,omitempty"`
}

// Scenario is the result of one scenario file.
type Scenario struct {
	Name        string          `json:"name"`
	File        string          `json:"file"`
	Description string          `json:"description,omitempty"`
	Tags        []string        `json:"tags,omitempty"`
	Started     time.Time       `json:"started"`
	Finished    time.Time       `json:"finished"`
	Steps       []*Step         `json:"steps"`
	Cleanup     []*Step         `json:"cleanup"`
	Undo        []*Undo         `json:"undo"`
	Checks      []*Check        `json:"checks"`
	Metrics     []metric.Sample `json:"metrics"` // every recorded value, in order
	Events      []Event         `json:"events"`
	// Aborted says why the remaining steps and the checks were skipped.
	Aborted string `json:"aborted,omitempty"`
	// Skipped says why the scenario did not run at all because the cluster
	// does not meet its requires ("needs Patroni >= 3.2, the cluster runs
	// 3.0.2"): it counts as passing.
	Skipped string `json:"skipped,omitempty"`
	// Error is a problem that kept the scenario from running: its requires
	// could not be checked.
	Error string `json:"error,omitempty"`
	// Versions are the cluster's versions read to check requires
	// (patroni, postgres).
	Versions map[string]string `json:"versions,omitempty"`
	// Environment is the fingerprint of the cluster read when the scenario
	// started (absent when it did not run, and in older journals).
	Environment *Environment `json:"environment,omitempty"`
	// Timeline holds the series the HTML report draws: member roles
	// sampled from Patroni, the writers' writes per bucket, the watchers'
	// windows (absent when nothing was recorded, and in older journals).
	Timeline *timeline.Timeline `json:"timeline,omitempty"`
	// Run is this run's number, from 1, among Runs (drill run --repeat);
	// both are 0 when the scenario runs once.
	Run  int `json:"run,omitempty"`
	Runs int `json:"runs,omitempty"`
	// Matrix is the combination of the scenario's matrix vars this run used,
	// in the order the matrix declares them.
	Matrix []MatrixVar `json:"matrix,omitempty"`
}

// Step is the result of one step.
type Step struct {
	ID       string        `json:"id,omitempty"`
	Name     string        `json:"name"`
	Kind     string        `json:"kind"`
	Pos      dsl.Pos       `json:"pos"`
	Phase    string        `json:"phase"` // "steps" or "cleanup"
	Status   Status        `json:"status"`
	Message  string        `json:"message,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Attempts int           `json:"attempts,omitempty"`
	Log      string        `json:"log,omitempty"`
	// Settled is set on a step that ran after the run stopped early, to
	// stop its background task and record what it measured (writer.stop,
	// watch.stop, guard.stop).
	Settled bool `json:"settled,omitempty"`
}

// Check is the result of one end-of-run check.
type Check struct {
	Name    string            `json:"name"`
	Expr    string            `json:"expr"`
	Pos     dsl.Pos           `json:"pos"`
	Status  Status            `json:"status"`
	Message string            `json:"message,omitempty"`
	Seen    []assertions.Seen `json:"seen,omitempty"`
}

// Undo is the result of undoing one fault when the run ended.
type Undo struct {
	Fault   string    `json:"fault"`
	Step    string    `json:"step"`
	Status  Status    `json:"status"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// Event is one entry of a scenario's timeline.
type Event struct {
	At      time.Time `json:"at"`
	Type    string    `json:"type"` // step.start, step.end, fault, undo, check, interrupt...
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message"`
}

// ExitCode is drill's exit status for the run: 130 when interrupted, 3 when a
// step, a cleanup or an undo failed, 1 when a check failed, else 0.
func (r *Run) ExitCode() int {
	if r.Interrupted {
		return ExitInterrupted
	}
	code := ExitPassed
	for _, s := range r.Scenarios {
		code = max(code, s.exitCode())
	}
	for _, s := range r.Series {
		code = max(code, checksExitCode(s.Checks))
	}
	return code
}

func (s *Scenario) exitCode() int {
	if s.Error != "" {
		return ExitError
	}
	code := ExitPassed
	for _, list := range [][]*Step{s.Steps, s.Cleanup} {
		for _, st := range list {
			switch st.Status {
			case Error:
				return ExitError
			case Failed:
				code = ExitCheckFailed
			}
		}
	}
	for _, u := range s.Undo {
		if u.Status == Error {
			return ExitError
		}
	}
	return max(code, checksExitCode(s.Checks))
}

// checksExitCode is 1 when a check failed or could not be evaluated.
func checksExitCode(checks []*Check) int {
	for _, c := range checks {
		if c.Status == Failed || c.Status == Error {
			return ExitCheckFailed
		}
	}
	return ExitPassed
}

// Passed reports whether the scenario passed as a whole.
func (s *Scenario) Passed() bool { return s.exitCode() == ExitPassed && s.Aborted == "" }

// skippedWhole reports whether none of the scenario's steps ran (--fail-fast
// or an interrupt before it started).
func (s *Scenario) skippedWhole() bool {
	if s.Aborted == "" {
		return false
	}
	for _, st := range append(append([]*Step(nil), s.Steps...), s.Cleanup...) {
		if st.Status != Skipped {
			return false
		}
	}
	return true
}
