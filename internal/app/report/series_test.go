package report

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/golden"
	"github.com/drill-dev/drill/internal/metric"
)

// repeatRun is three runs of one matrix combination (--repeat 3): the
// second failed its per-run check; the check over the runs failed.
func repeatRun() *Run {
	pos := dsl.Pos{File: "scenarios/leader-kill.yaml", Line: 30, Col: 5}
	matrix := []MatrixVar{{Name: "sync", Value: "on"}}
	run := &Run{Started: t0}
	for i, rto := range []float64{12, 10, 14.5} {
		start := t0.Add(time.Duration(i) * time.Minute)
		s := &Scenario{Name: "leader kill", File: "scenarios/leader-kill.yaml", Started: start, Finished: start.Add(40 * time.Second),
			Run: i + 1, Runs: 3, Matrix: matrix,
			Steps:  []*Step{{ID: "kill", Name: "kill", Kind: "compose.kill", Pos: pos, Phase: "steps", Status: Passed, Started: start, Duration: time.Second}},
			Checks: []*Check{{Name: "rto_s < 14", Expr: "rto_s < 14", Pos: pos, Status: Passed, Seen: []assertions.Seen{{Name: "rto_s", Value: rto}}}},
			Metrics: []metric.Sample{
				{Name: "fault_at", Step: "kill", Type: metric.Time, Value: start.Add(time.Second), At: start},
				{Name: "rto_s", Step: "wait", Type: metric.Number, Value: rto + 1, At: start},
				{Name: "rto_s", Step: "wait", Type: metric.Number, Value: rto, At: start}, // the latest counts
				{Name: "leader", Step: "wait", Type: metric.String, Value: "postgres-standby1", At: start},
				{Name: "timeline_changed", Step: "wait", Type: metric.Bool, Value: true, At: start},
			},
		}
		if rto > 14 {
			s.Checks[0].Status, s.Checks[0].Message = Failed, "rto_s < 14: rto_s = 14.5"
		}
		run.Scenarios = append(run.Scenarios, s)
	}
	series := &Series{Name: "leader kill", File: "scenarios/leader-kill.yaml", Matrix: matrix, Runs: 3, Passed: 2,
		Started: t0, Finished: t0.Add(2*time.Minute + 40*time.Second), Stats: Distributions(run.Scenarios),
		Checks: []*Check{{Name: "p95(wait.rto_s) < 14", Expr: "p95(wait.rto_s) < 14", Pos: pos, Status: Failed,
			Message: "p95(wait.rto_s) < 14: p95(wait.rto_s) = 14.5", Seen: []assertions.Seen{{Name: "p95(wait.rto_s)", Value: 14.5}}}}}
	run.Series = []*Series{series}
	run.Finished = series.Finished
	return run
}

func TestDistributions(t *testing.T) {
	t.Parallel()
	stats := Distributions(repeatRun().Scenarios)
	if len(stats) != 1 {
		t.Fatalf("stats = %+v, want wait.rto_s only (the one number metric)", stats)
	}
	want := Stat{Name: "wait.rto_s", Summary: metric.Summary{Count: 3, Min: 10, Median: 12, P95: 14.5, Max: 14.5, Mean: 12.166666666666666}}
	if stats[0] != want {
		t.Errorf("stats = %+v, want %+v", stats[0], want)
	}
	// A failed run's check, then the check over the runs, make the exit 1.
	run := repeatRun()
	for i, fix := range []func(){func() {}, func() { run.Scenarios[2].Checks[0].Status = Passed }, func() { run.Series[0].Checks[0].Status = Passed }} {
		fix()
		if want := []int{ExitCheckFailed, ExitCheckFailed, ExitPassed}[i]; run.ExitCode() != want {
			t.Errorf("case %d: exit %d, want %d", i, run.ExitCode(), want)
		}
	}
}

func TestSeriesConsoleGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := &Console{W: &buf, Mask: NewMasker(nil)}
	run := repeatRun()
	for _, s := range run.Scenarios {
		replay(c, s)
	}
	c.SeriesFinished(run.Series[0])
	c.Summary(run)
	golden.Check(t, "testdata/repeat.console.txt", buf.Bytes())
}

func TestSeriesJUnit(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, repeatRun(), NewMasker(nil)); err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(buf.String(), `hostname="`+hostname()+`"`, `hostname="HOST"`)
	golden.Check(t, "testdata/repeat.junit.xml", []byte(out))
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not installed: apt-get install libxml2-utils")
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	if err := WriteFileAtomic(path, func(w io.Writer) error { return WriteJUnit(w, repeatRun(), nil) }); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/JUnit.xsd", path).CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}

// TestWriteMetrics parses the output back with the Prometheus text parser.
func TestWriteMetrics(t *testing.T) {
	t.Parallel()
	run := repeatRun()
	// A second scenario without a matrix, run once: its matrix label is "".
	run.Scenarios = append(run.Scenarios, &Scenario{Name: "health s3cret", Started: t0, Finished: t0.Add(time.Second),
		Steps:   []*Step{{Name: "status", Status: Passed}},
		Metrics: []metric.Sample{{Name: "members_online", Step: "status", Type: metric.Number, Value: 3.0, At: t0}}})
	var buf bytes.Buffer
	if err := WriteMetrics(&buf, run, NewMasker([]string{"s3cret"})); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("parsing the output back: %v\n%s", err, buf.String())
	}
	var names []string
	for n := range families {
		names = append(names, n)
	}
	gauges := func(name string) map[string]float64 {
		t.Helper()
		f := families[name]
		if f == nil {
			t.Fatalf("no family %s in %q", name, names)
		}
		if f.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s is a %s, want a gauge", name, f.GetType())
		}
		out := map[string]float64{}
		for _, m := range f.GetMetric() {
			out[labelString(m)] = m.GetGauge().GetValue()
		}
		return out
	}
	want := map[string]float64{
		`run=1,scenario=leader kill,step=wait,sync=on`: 12,
		`run=2,scenario=leader kill,step=wait,sync=on`: 10,
		`run=3,scenario=leader kill,step=wait,sync=on`: 14.5,
	}
	if got := gauges("drill_rto_s"); !sameFloats(got, want) {
		t.Errorf("drill_rto_s = %v, want %v", got, want)
	}
	if got := gauges("drill_fault_at")[`run=1,scenario=leader kill,step=kill,sync=on`]; got != float64(t0.Unix()+1) {
		t.Errorf("drill_fault_at of run 1 = %v, want %d (unix seconds)", got, t0.Unix()+1)
	}
	if got := gauges("drill_timeline_changed")[`run=2,scenario=leader kill,step=wait,sync=on`]; got != 1 {
		t.Errorf("drill_timeline_changed = %v, want 1", got)
	}
	if got := gauges("drill_members_online"); !sameFloats(got, map[string]float64{`run=,scenario=health ***,step=status,sync=`: 3}) {
		t.Errorf("drill_members_online = %v (the secret masked, no run, no matrix value)", got)
	}
	if got := gauges("drill_scenario_passed"); !sameFloats(got, map[string]float64{
		`run=1,scenario=leader kill,sync=on`: 1, `run=2,scenario=leader kill,sync=on`: 1, `run=3,scenario=leader kill,sync=on`: 0,
		`run=,scenario=health ***,sync=`: 1}) {
		t.Errorf("drill_scenario_passed = %v", got)
	}
	if families["drill_leader"] != nil {
		t.Error("a text metric was exported")
	}
	sum := families["drill_rto_s_runs"]
	if sum == nil || sum.GetType() != dto.MetricType_SUMMARY || len(sum.GetMetric()) != 1 {
		t.Fatalf("drill_rto_s_runs = %v, want one summary", sum)
	}
	m := sum.GetMetric()[0].GetSummary()
	quantiles := map[float64]float64{}
	for _, q := range m.GetQuantile() {
		quantiles[q.GetQuantile()] = q.GetValue()
	}
	if m.GetSampleCount() != 3 || m.GetSampleSum() != 36.5 || !sameFloats(quantiles, map[float64]float64{0: 10, 0.5: 12, 0.95: 14.5, 1: 14.5}) {
		t.Errorf("drill_rto_s_runs: count %d, sum %v, quantiles %v", m.GetSampleCount(), m.GetSampleSum(), quantiles)
	}
	if got := labelString(sum.GetMetric()[0]); got != "scenario=leader kill,step=wait,sync=on" {
		t.Errorf("drill_rto_s_runs labels %q", got)
	}
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func sameFloats[K comparable](a, b map[K]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
