package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/drill-dev/drill/internal/app/htmlreport"
	"github.com/drill-dev/drill/internal/app/report"
)

// registerHTML adds --html to c.
func registerHTML(c *cobra.Command, path *string) {
	c.Flags().StringVar(path, "html", "", "write a self-contained HTML report (timeline, checks, steps, environment) to `path`")
}

// stampRun records in the run what its reports refer to: drill's version,
// and the HTML report the JUnit file links to.
func stampRun(run *report.Run, htmlPath string) {
	run.Drill = version()
	run.HTML = htmlPath
}

// writeHTML writes the HTML report atomically when a path is given.
func writeHTML(run *report.Run, mask *report.Masker, path string) error {
	if path == "" {
		return nil
	}
	return report.WriteFileAtomic(path, func(w io.Writer) error { return htmlreport.Write(w, run, mask, htmlreport.Options{}) })
}

func newReportCmd(stdout io.Writer) *cobra.Command {
	var htmlPath string
	c := &cobra.Command{
		Use:   "report RUN.json --html FILE",
		Short: "Render the JSON journal of an earlier run as an HTML report",
		Long: `report reads the JSON journal that 'drill run --json' wrote and renders it as
one self-contained HTML file: the timeline of each scenario (steps, faults,
member roles, writes, watchers, lag, the moments metrics were taken), its
checks with the values seen, its steps and the environment it ran against.
What the journal did not record (a journal from an older drill) is shown as
not recorded. The file needs no network access.`,
		Example: "  drill report out/run.json --html out/run.html",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if htmlPath == "" {
				return exitHint(report.ExitInvalid, fmt.Errorf("drill report: no output: give --html FILE"), "Run 'drill report --help' for usage.")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return exitWith(report.ExitInvalid, fmt.Errorf("drill report: %w", err))
			}
			defer f.Close()
			run, err := report.ReadJSON(f)
			if err != nil {
				return exitWith(report.ExitInvalid, fmt.Errorf("drill report: %s: %w", args[0], err))
			}
			if err := writeHTML(run, nil, htmlPath); err != nil {
				return exitWith(report.ExitError, err)
			}
			fmt.Fprintf(stdout, "wrote %s (%d scenario(s) from %s)\n", htmlPath, len(run.Scenarios), args[0])
			return nil
		},
	}
	registerHTML(c, &htmlPath)
	return c
}
