package report

import (
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/drill-dev/drill/internal/metric"
)

// WriteMetrics writes the run's metrics in the Prometheus text format
// (version 0.0.4, what the node exporter's textfile collector and the
// Pushgateway read), built and encoded by the Prometheus client libraries:
//
//   - drill_<metric>{scenario, step, run, <matrix vars>}: a gauge per number,
//     bool (0 or 1) and time metric (*_at: unix seconds) each step recorded,
//     its latest value per run; text, list and map metrics are not exported;
//   - drill_<metric>_runs{scenario, step, <matrix vars>}: under --repeat, a
//     summary of a number metric over the runs, quantiles 0 (min), 0.5,
//     0.95 (nearest rank) and 1 (max), with _sum and _count;
//   - drill_scenario_passed and drill_scenario_duration_seconds per run.
//
// run is "" without --repeat; a matrix var a scenario does not have is "".
// Secrets are masked in label values.
func WriteMetrics(w io.Writer, run *Run, m *Masker) error {
	run = Masked(m, run)
	c := &promCollector{matrix: matrixNames(run)}
	for _, s := range run.Scenarios {
		c.addScenario(s)
	}
	for _, s := range run.Series {
		c.addSeries(s)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// matrixNames are the matrix vars of every scenario of the run, sorted:
// every metric carries them all, so that each family has one label set.
func matrixNames(run *Run) []string {
	set := map[string]bool{}
	for _, s := range run.Scenarios {
		for _, v := range s.Matrix {
			set[v.Name] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// promCollector holds the metrics as constant metrics, keyed so that a
// later value with the same name and labels replaces an earlier one.
type promCollector struct {
	matrix []string
	keys   []string
	byKey  map[string]prometheus.Metric
}

// Describe sends nothing: the collector is unchecked, its families are
// known only from the run.
func (c *promCollector) Describe(chan<- *prometheus.Desc) {}

func (c *promCollector) Collect(ch chan<- prometheus.Metric) {
	for _, k := range c.keys {
		ch <- c.byKey[k]
	}
}

func (c *promCollector) put(name string, labels []string, m prometheus.Metric) {
	if c.byKey == nil {
		c.byKey = map[string]prometheus.Metric{}
	}
	k := name + "\x00" + strings.Join(labels, "\x00")
	if _, seen := c.byKey[k]; !seen {
		c.keys = append(c.keys, k)
	}
	c.byKey[k] = m
}

// labels are the label names and values of a metric of scenario s.
func (c *promCollector) labels(s *Scenario, matrix []MatrixVar, withRun bool, step string) ([]string, []string) {
	names, values := []string{"scenario"}, []string{s.Name}
	if step != "-" {
		names, values = append(names, "step"), append(values, step)
	}
	if withRun {
		run := ""
		if s.Runs > 0 {
			run = strconv.Itoa(s.Run)
		}
		names, values = append(names, "run"), append(values, run)
	}
	for _, n := range c.matrix {
		v := ""
		if i := slices.IndexFunc(matrix, func(m MatrixVar) bool { return m.Name == n }); i >= 0 {
			v = matrix[i].Value
		}
		names, values = append(names, n), append(values, v)
	}
	return names, values
}

func (c *promCollector) gauge(name, help string, names, values []string, v float64) {
	desc := prometheus.NewDesc(name, help, names, nil)
	c.put(name, values, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, values...))
}

func (c *promCollector) addScenario(s *Scenario) {
	latest := map[[2]string]metric.Sample{}
	var order [][2]string
	for _, smp := range s.Metrics {
		k := [2]string{smp.Step, smp.Name}
		if _, seen := latest[k]; !seen {
			order = append(order, k)
		}
		latest[k] = smp
	}
	for _, k := range order {
		smp := latest[k]
		v, ok := promValue(smp)
		if !ok {
			continue
		}
		names, values := c.labels(s, s.Matrix, true, smp.Step)
		c.gauge(promName(smp.Name), promHelp(smp.Name), names, values, v)
	}
	names, values := c.labels(s, s.Matrix, true, "-")
	passed := 0.0
	if s.Passed() {
		passed = 1
	}
	c.gauge("drill_scenario_passed", "1 when the scenario run passed (its steps, undo and checks), else 0.", names, values, passed)
	c.gauge("drill_scenario_duration_seconds", "How long the scenario run took, cleanup and undo included.", names, values, s.Finished.Sub(s.Started).Seconds())
}

// addSeries adds a summary per number metric of a series.
func (c *promCollector) addSeries(s *Series) {
	sc := &Scenario{Name: s.Name}
	for _, st := range s.Stats {
		step, name := "", st.Name
		if i := strings.LastIndexByte(st.Name, '.'); i >= 0 {
			step, name = st.Name[:i], st.Name[i+1:]
		}
		names, values := c.labels(sc, s.Matrix, false, step)
		fq := promName(name) + "_runs"
		desc := prometheus.NewDesc(fq, fmt.Sprintf("%s over the runs of drill run --repeat: quantile 0 is the minimum, 1 the maximum, 0.95 the nearest rank.", name), names, nil)
		q := map[float64]float64{0: st.Min, 0.5: st.Median, 0.95: st.P95, 1: st.Max}
		c.put(fq, values, prometheus.MustNewConstSummary(desc, uint64(st.Count), st.Mean*float64(st.Count), q, values...))
	}
}

// promValue is a sample as a float: numbers, bools as 0 or 1, times as
// unix seconds; false for the types not exported.
func promValue(s metric.Sample) (float64, bool) {
	switch v := s.Value.(type) {
	case float64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case time.Time:
		return float64(v.UnixNano()) / 1e9, true
	}
	return 0, false
}

// promHelp is the help text of a metric's family: by its name alone, so
// that every sample of a family agrees (a time metric's name ends in _at).
func promHelp(name string) string {
	if strings.HasSuffix(name, "_at") {
		return fmt.Sprintf("drill metric %s: unix time in seconds.", name)
	}
	return fmt.Sprintf("drill metric %s (drill kinds documents it).", name)
}

var promInvalid = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// promName is drill_ and the metric's name, any character a Prometheus
// name cannot hold replaced by _.
func promName(name string) string { return "drill_" + promInvalid.ReplaceAllString(name, "_") }
