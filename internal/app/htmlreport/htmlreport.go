// Package htmlreport renders a drill run (report.Run, live or read back from
// the JSON journal) as one self-contained HTML file: no network access, no
// external file, only inline CSS, a few lines of inline JavaScript and
// server-side SVG, so that it works when mailed or attached to a CI job.
//
// Each scenario gets a timeline on one time axis (steps, fault windows, each
// member's role as Patroni reported it, the writers' acknowledged and failed
// writes per bucket with the longest gap marked, the split-brain watcher's
// view, replication lag, Patroni's leader and timeline changes, and the
// moment each *_at metric was taken), then its checks with the values seen,
// its steps with durations and errors, the environment fingerprint and every
// metric. Every mark carries an SVG <title> with its exact time and value,
// so hovering shows them with or without JavaScript. Nothing relies on
// colour alone: roles and outcomes carry text labels and fill patterns, and
// a print stylesheet lays the page out on A4.
//
// The renderer only reads the run: what the journal did not record (an
// older journal, a scenario without a writer) is shown as "not recorded",
// never as zero.
package htmlreport

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
)

//go:embed assets/report.html.tmpl assets/report.css assets/report.js
var assets embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"f1": func(f float64) string { return fmt.Sprintf("%.1f", f) },
}).ParseFS(assets, "assets/report.html.tmpl"))

// Options tune the report.
type Options struct {
	// Now is the time the report says it was generated (default: the
	// run's end, so that the same journal always renders the same file).
	Now time.Time
}

// Write renders run as HTML into w, with secrets masked by m before
// anything is written.
func Write(w io.Writer, run *report.Run, m *report.Masker, opts Options) error {
	run = report.Masked(m, run)
	css, err := assets.ReadFile("assets/report.css")
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	js, err := assets.ReadFile("assets/report.js")
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	v := buildPage(run, opts)
	v.CSS = template.CSS(css)
	v.JS = template.JS(js)
	if err := page.Execute(w, v); err != nil {
		return fmt.Errorf("writing the HTML report: %w", err)
	}
	return nil
}
