package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/drill-dev/drill/internal/app/report"
)

// maxRepeat bounds --repeat: each run is a whole drill against the cluster.
const maxRepeat = 1000

// repeatFlags are drill run's --repeat and --metrics.
type repeatFlags struct {
	repeat  int
	metrics string
}

func (f *repeatFlags) register(c *cobra.Command) {
	c.Flags().IntVar(&f.repeat, "repeat", 1, "run each scenario `N` times and report the distribution of every number metric (min, median, p95, max); checks may use min(), median(), p95(), max(), mean(), count()")
	c.Flags().StringVar(&f.metrics, "metrics", "", "write the run's metrics to `path` in the Prometheus text format (for the node exporter's textfile collector or a Pushgateway)")
}

// check refuses a --repeat out of range (exit 2).
func (f *repeatFlags) check() error {
	if f.repeat < 1 || f.repeat > maxRepeat {
		return exitHint(report.ExitInvalid, fmt.Errorf("drill run: --repeat must be from 1 to %d, found %d", maxRepeat, f.repeat), "Leave it out to run each scenario once.")
	}
	return nil
}

// write writes the --metrics file, atomically.
func (f *repeatFlags) write(run *report.Run, mask *report.Masker) error {
	if f.metrics == "" {
		return nil
	}
	return report.WriteFileAtomic(f.metrics, func(w io.Writer) error { return report.WriteMetrics(w, run, mask) })
}
