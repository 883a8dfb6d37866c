package htmlreport

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/metric"
)

// pageView is what the template renders.
type pageView struct {
	Title     string
	Drill     string
	Started   string
	Generated string
	Duration  string
	Exit      int
	Status    status
	Scenarios []*scenarioView
	CSS       template.CSS
	JS        template.JS
}

// status is an outcome as a word, a symbol and a CSS class: the word and
// symbol carry it without colour.
type status struct {
	Word, Symbol, Class string
}

var statuses = map[report.Status]status{
	report.Passed:  {"passed", "✓", "ok"},
	report.Failed:  {"failed", "✗", "bad"},
	report.Error:   {"error", "!", "bad"},
	report.Ignored: {"ignored", "~", "warn"},
	report.Skipped: {"skipped", "–", "skip"},
}

func statusOf(s report.Status) status {
	if st, ok := statuses[s]; ok {
		return st
	}
	return status{string(s), "?", "skip"}
}

type scenarioView struct {
	Anchor      string
	Name        string
	File        string
	Description string
	Tags        string
	Started     string
	Duration    string
	Status      status
	Notes       []string // aborted, skipped, error
	Chart       *chart
	Checks      []checkRow
	Steps       []stepRow
	Undo        []undoRow
	Env         []envRow
	Metrics     []metricRow
	Events      []eventRow
}

type checkRow struct {
	Status  status
	Name    string
	Expr    string
	Seen    []string
	Message string
	Pos     string
}

type stepRow struct {
	N        int
	Status   status
	Name     string
	Kind     string
	Phase    string
	At       string
	Duration string
	Attempts int
	Message  string
	Log      string
	Pos      string
}

type undoRow struct {
	Status  status
	Fault   string
	Step    string
	At      string
	Message string
}

type envRow struct {
	Name, Value, Why string
}

type metricRow struct {
	Name, Step, Value, At string
}

type eventRow struct {
	At, Type, Step, Message string
}

func buildPage(run *report.Run, opts Options) *pageView {
	gen := opts.Now
	if gen.IsZero() {
		gen = run.Finished
	}
	p := &pageView{
		Title:     "drill report",
		Drill:     orNot(run.Drill, "not recorded"),
		Started:   clock(run.Started, true),
		Generated: clock(gen, true),
		Duration:  seconds(wallSub(run.Finished, run.Started)),
		Exit:      run.ExitCode(),
	}
	p.Status = status{"passed", "✓", "ok"}
	if p.Exit != report.ExitPassed {
		p.Status = status{fmt.Sprintf("did not pass (exit %d)", p.Exit), "✗", "bad"}
	}
	if len(run.Scenarios) == 1 {
		p.Title = "drill: " + run.Scenarios[0].Name
	}
	for i, s := range run.Scenarios {
		p.Scenarios = append(p.Scenarios, buildScenario(i, s, run.Drill))
	}
	return p
}

func buildScenario(i int, s *report.Scenario, drill string) *scenarioView {
	v := &scenarioView{
		Anchor:      fmt.Sprintf("s%d", i+1),
		Name:        s.Name,
		File:        s.File,
		Description: s.Description,
		Tags:        strings.Join(s.Tags, ", "),
		Started:     clock(s.Started, true),
		Duration:    seconds(wallSub(s.Finished, s.Started)),
	}
	switch {
	case s.Skipped != "":
		v.Status = status{"skipped", "–", "skip"}
		v.Notes = append(v.Notes, "Skipped: "+s.Skipped)
	case s.Passed():
		v.Status = status{"passed", "✓", "ok"}
	default:
		v.Status = status{"did not pass", "✗", "bad"}
	}
	if s.Error != "" {
		v.Notes = append(v.Notes, "Error: "+s.Error)
	}
	if s.Aborted != "" {
		v.Notes = append(v.Notes, "Aborted: "+s.Aborted)
	}
	t0 := s.Started
	for _, c := range s.Checks {
		row := checkRow{Status: statusOf(c.Status), Name: c.Name, Expr: c.Expr, Message: c.Message, Pos: c.Pos.String()}
		for _, seen := range c.Seen {
			row.Seen = append(row.Seen, seen.Name+" = "+formatValue(seen.Value))
		}
		v.Checks = append(v.Checks, row)
	}
	for n, st := range append(slices.Clone(s.Steps), s.Cleanup...) {
		row := stepRow{N: n + 1, Status: statusOf(st.Status), Name: st.Name, Kind: st.Kind, Phase: st.Phase,
			Duration: seconds(st.Duration), Attempts: st.Attempts, Message: st.Message, Log: tailText(st.Log, 4096), Pos: st.Pos.String()}
		if st.Status != report.Skipped {
			row.At = offset(st.Started, t0)
		}
		v.Steps = append(v.Steps, row)
	}
	for _, u := range s.Undo {
		v.Undo = append(v.Undo, undoRow{Status: statusOf(u.Status), Fault: u.Fault, Step: u.Step, At: offset(u.At, t0), Message: u.Message})
	}
	v.Env = envRows(s.Environment, drill)
	for _, m := range s.Metrics {
		v.Metrics = append(v.Metrics, metricRow{Name: m.Name, Step: m.Step, Value: formatValue(m.Value), At: offset(m.At, t0)})
	}
	for _, e := range s.Events {
		v.Events = append(v.Events, eventRow{At: offset(e.At, t0), Type: e.Type, Step: e.Step, Message: e.Message})
	}
	if s.Skipped == "" && s.Error == "" && s.Finished.After(s.Started) {
		v.Chart = buildChart(s)
	}
	return v
}

// envRows lists the fingerprint in a fixed order; a value not read says
// so, with the reason.
func envRows(e *report.Environment, drill string) []envRow {
	rows := []envRow{{Name: "drill", Value: drill}}
	if drill == "" {
		rows[0] = envRow{Name: "drill", Why: "not recorded in this journal"}
	}
	for _, k := range report.EnvironmentKeys {
		switch {
		case e == nil:
			rows = append(rows, envRow{Name: k, Why: "not recorded in this journal"})
		case e.Values[k] != "":
			rows = append(rows, envRow{Name: k, Value: e.Values[k]})
		default:
			rows = append(rows, envRow{Name: k, Why: orNot(e.Unread[k], "no reason recorded")})
		}
	}
	return rows
}

// formatValue renders a metric value, live or read back from JSON.
func formatValue(v any) string {
	if t, ok := asTime(v); ok {
		return clock(t, true)
	}
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return metric.Format(v)
}

// asTime reads a time value: a time.Time (a live run) or its RFC 3339 text
// (a journal read back).
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		if len(x) < 20 || x[4] != '-' || x[10] != 'T' {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	}
	return time.Time{}, false
}

// clock is a time in UTC with milliseconds; with date, the day too.
func clock(t time.Time, date bool) string {
	if t.IsZero() {
		return "not recorded"
	}
	if date {
		return t.UTC().Format("2006-01-02 15:04:05.000Z")
	}
	return t.UTC().Format("15:04:05.000")
}

// offset is t relative to the scenario's start: "+12.345 s".
func offset(t, t0 time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%+.3f s", wallSub(t, t0).Seconds())
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func orNot(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// tailText keeps the last n bytes of a log.
func tailText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("[... %d bytes cut]\n", len(s)-n) + s[len(s)-n:]
}

// wallSub is a - b on the wall clock. Times taken during a run carry a
// monotonic reading that their JSON journal does not keep; ignoring it makes
// the report drill run writes and the one drill report renders from the
// journal the same, byte for byte.
func wallSub(a, b time.Time) time.Duration {
	return a.Round(0).Sub(b.Round(0))
}
