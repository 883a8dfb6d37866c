package report

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/internal/metric"
)

// Console prints a run as it happens: one line per step when it ends, a
// progress line during long steps (on a terminal only), then the checks
// with the values measured. Colour only when Color is set (a terminal
// without NO_COLOR).
type Console struct {
	W     io.Writer
	Color bool
	TTY   bool
	Mask  *Masker

	mu           sync.Mutex
	step         int
	progressLine bool
	lastProgress time.Time
}

const (
	green  = "\x1b[32m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	dim    = "\x1b[2m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

func (c *Console) paint(color, s string) string {
	if !c.Color {
		return s
	}
	return color + s + reset
}

// printf prints a line built from masked fields, masked again as a whole
// (fields truncated or joined after masking cannot reveal a secret).
func (c *Console) printf(format string, args ...any) {
	c.clearProgress()
	fmt.Fprint(c.W, c.Mask.Mask(fmt.Sprintf(format, args...)))
}

func (c *Console) clearProgress() {
	if c.progressLine {
		fmt.Fprint(c.W, "\r\x1b[K")
		c.progressLine = false
	}
}

// ScenarioStarted prints the scenario's header.
func (c *Console) ScenarioStarted(s *Scenario) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = 0
	s = Masked(c.Mask, s)
	c.printf("%s %s\n", c.paint(bold, "scenario "+s.Label()), c.paint(dim, "("+s.File+")"))
}

// StepStarted counts the step; its line is printed when it ends.
func (c *Console) StepStarted(s *Step) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step++
	if c.TTY {
		c.printf("  %s %s %s", c.paint(dim, "…"), c.Mask.Mask(s.Name), c.paint(dim, s.Kind))
		c.progressLine = true
	}
}

// StepProgress rewrites the progress line on a terminal, and prints a line
// every 10 s elsewhere so that CI logs show a long wait is alive.
func (c *Console) StepProgress(s *Step, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg = c.Mask.Mask(msg)
	if c.TTY {
		c.printf("  %s %s: %s", c.paint(dim, "…"), c.Mask.Mask(s.Name), truncate(msg, 100))
		c.progressLine = true
		return
	}
	if time.Since(c.lastProgress) >= 10*time.Second {
		c.lastProgress = time.Now()
		c.printf("    … %s\n", truncate(msg, 160))
	}
}

// StepFinished prints the step's line: outcome, name, kind, duration and
// the message of a failure, or why it was skipped.
func (c *Console) StepFinished(s *Step) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s = Masked(c.Mask, s)
	if s.Status == Skipped {
		c.printf("  %s %-32s %s\n", c.mark(Skipped), c.fit(s.Name, 32), c.paint(dim, "skipped: "+s.Message))
		return
	}
	mark := c.mark(s.Status)
	label := s.Name
	if s.Phase == "cleanup" {
		label = "cleanup: " + label
	}
	if s.Settled {
		label = "after the stop: " + label
	}
	line := fmt.Sprintf("  %s %-32s %-22s %8s", mark, c.fit(label, 32), c.paint(dim, s.Kind), s.Duration.Round(time.Millisecond))
	if s.Attempts > 1 {
		line += fmt.Sprintf(" (%d attempts)", s.Attempts)
	}
	if s.Message != "" {
		line += "\n      " + c.paint(statusColor(s.Status), s.Message)
	}
	c.printf("%s\n", line)
}

// UndoFinished prints the line of one undo, in its place among the steps.
func (c *Console) UndoFinished(u *Undo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printf("  %s undo: %s", c.mark(u.Status), u.Fault)
	if u.Message != "" {
		c.printf("\n      %s", c.paint(statusColor(u.Status), u.Message))
	}
	c.printf("\n")
}

// ScenarioFinished prints the checks table and the scenario's verdict.
func (c *Console) ScenarioFinished(s *Scenario) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.printChecks("checks", s.Checks)
	switch {
	case s.Skipped != "":
		c.printf("  %s %s: %s\n\n", c.paint(yellow, "SKIPPED"), s.Label(), s.Skipped)
		return
	case s.Error != "":
		c.printf("  %s %s: %s\n\n", c.paint(red, "ERROR"), s.Label(), s.Error)
		return
	case s.skippedWhole():
		c.printf("  %s %s: %s\n\n", c.paint(yellow, "SKIPPED"), s.Label(), s.Aborted)
		return
	}
	c.printf("  %s %s in %s\n\n", c.verdict(!s.Passed()), s.Label(), s.Finished.Sub(s.Started).Round(time.Millisecond))
}

func (c *Console) verdict(failed bool) string {
	if failed {
		return c.paint(red, "FAILED")
	}
	return c.paint(green, "PASSED")
}

// printChecks prints a checks table; the caller holds c.mu.
func (c *Console) printChecks(title string, checks []*Check) {
	if len(checks) == 0 {
		return
	}
	c.printf("  %s:\n", title)
	width := 0
	for _, ch := range checks {
		width = max(width, min(len(ch.Name), 48))
	}
	for _, ch := range checks {
		c.printCheck(ch, width)
	}
}

// printCheck prints one line of the checks table, the name in a column of
// width; the caller holds c.mu.
func (c *Console) printCheck(ch *Check, width int) {
	detail := seenText(ch)
	if ch.Status == Error || ch.Status == Skipped {
		detail = ch.Message
	}
	c.printf("    %s %-*s  %s\n", c.mark(ch.Status), width, c.fit(ch.Name, 48), c.paint(statusColor(ch.Status), detail))
}

func seenText(ch *Check) string {
	parts := make([]string, len(ch.Seen))
	for i, s := range ch.Seen {
		parts[i] = s.Name + " = " + metric.Format(s.Value)
	}
	return strings.Join(parts, ", ")
}

func (c *Console) mark(st Status) string {
	switch st {
	case Passed:
		return c.paint(green, "✓")
	case Failed, Error:
		return c.paint(red, "✗")
	case Ignored:
		return c.paint(yellow, "!")
	}
	return c.paint(dim, "-")
}

func statusColor(st Status) string {
	switch st {
	case Failed, Error:
		return red
	case Ignored:
		return yellow
	}
	return dim
}

// Summary prints the totals of a run with several scenarios.
func (c *Console) Summary(run *Run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	passed, skipped := 0, 0
	for _, s := range run.Scenarios {
		switch {
		case s.Skipped != "":
			skipped++
		case s.Passed():
			passed++
		}
	}
	also := ""
	if skipped > 0 {
		also = fmt.Sprintf(", %d skipped (requires not met)", skipped)
	}
	what, series := "scenarios", ""
	if len(run.Series) > 0 {
		what = "runs"
		checked, failed := 0, 0
		for _, s := range run.Series {
			if len(s.Checks) > 0 {
				checked++
			}
			if checksExitCode(s.Checks) != ExitPassed {
				failed++
			}
		}
		if checked > 0 {
			series = fmt.Sprintf("; the checks over the runs passed for %d of %d series", checked-failed, checked)
		}
	}
	c.printf("%d of %d %s passed%s in %s%s (exit code %d)\n", passed, len(run.Scenarios), what, also, run.Finished.Sub(run.Started).Round(time.Millisecond), series, run.ExitCode())
}

// fit cuts a name to its column on a terminal; a log file or CI keeps it
// whole (the columns after it shift).
func (c *Console) fit(s string, n int) string {
	if !c.TTY {
		return strings.ReplaceAll(s, "\n", " ")
	}
	return truncate(s, n)
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
