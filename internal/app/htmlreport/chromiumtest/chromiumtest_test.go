package chromiumtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/htmlreport"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/timeline"
)

// TestCheck runs the page checks on the renderer's output for a run with
// checks, steps and a fault (no browser: the script's mark is added as
// Chromium would), and on a page that lost a check row.
func TestCheck(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	run := &report.Run{Started: t0, Finished: t0.Add(10 * time.Second), Scenarios: []*report.Scenario{{
		Name: "s", File: "s.yaml", Started: t0, Finished: t0.Add(10 * time.Second),
		Steps:  []*report.Step{{Name: "kill", Kind: "compose.kill", Status: report.Passed, Started: t0, Duration: time.Second}},
		Checks: []*report.Check{{Name: "rto", Expr: "rto_s < 60", Status: report.Passed}, {Name: "lost", Expr: "lost_writes == 0", Status: report.Failed}},
		Events: []report.Event{{At: t0.Add(time.Second), Type: "fault", Step: "kill", Message: "kill container x (service pg1, member pg1, the leader)"}},
	}}}
	var buf bytes.Buffer
	if err := htmlreport.Write(&buf, run, nil, htmlreport.Options{}); err != nil {
		t.Fatal(err)
	}
	page := strings.Replace(buf.String(), `<html lang="en">`, `<html lang="en" data-js="ready">`, 1)
	if err := Check([]byte(page), run); err != nil {
		t.Errorf("the renderer's page fails the checks: %v", err)
	}
	broken := strings.Replace(page, `class="check ok"`, `class="gone ok"`, 1)
	if err := Check([]byte(broken), run); err == nil || !strings.Contains(err.Error(), "1 check rows, the journal has 2 checks") {
		t.Errorf("a page without a check row: %v", err)
	}
	if err := Check(buf.Bytes(), run); err == nil || !strings.Contains(err.Error(), "script did not run") {
		t.Errorf("a page whose script did not run: %v", err)
	}
	if strings.Contains(page, `data-row="reads"`) {
		t.Errorf("a reader row on the page of a run without a reader")
	}

	// A reader's buckets: its row must be there, and only as many as readers.
	s := run.Scenarios[0]
	s.Timeline = &timeline.Timeline{Reads: []timeline.Reads{{Reader: "r", On: "replica_route", Start: t0, BucketMS: 100, OK: []int{5, 0, 5}, Failed: []int{0, 2, 0},
		Outage: &timeline.Outage{Start: t0.Add(110 * time.Millisecond), End: t0.Add(250 * time.Millisecond)}}}}
	buf.Reset()
	if err := htmlreport.Write(&buf, run, nil, htmlreport.Options{}); err != nil {
		t.Fatal(err)
	}
	page = strings.Replace(buf.String(), `<html lang="en">`, `<html lang="en" data-js="ready">`, 1)
	if err := Check([]byte(page), run); err != nil {
		t.Errorf("the renderer's page of a run with a reader fails the checks: %v", err)
	}
	noReader := strings.Replace(page, `data-row="reads"`, `data-row="gone"`, 1)
	if err := Check([]byte(noReader), run); err == nil || !strings.Contains(err.Error(), "0 reader rows, the journal has 1 readers") {
		t.Errorf("a page without the reader's row: %v", err)
	}
}
