package runner

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
)

// TestWaitUntilHold: with hold, wait_until ends only once expr has stayed
// true for that long; a false evaluation starts the hold again. The poll
// step counts its runs in a file; expr is false on the third. The hold (1s)
// is long against the interval so that the third poll comes within it
// however slow the shell is on a busy machine. false_polls counts that one
// false evaluation.
func TestWaitUntilHold(t *testing.T) {
	t.Parallel()
	counter := filepath.Join(t.TempDir(), "n")
	src := `name: hold
steps:
  - id: w
    kind: wait_until
    expr: int(stdout) != 3
    interval: 20ms
    hold: 1s
    poll:
      kind: shell
      command: n=$(( $(cat ` + counter + ` 2>/dev/null || echo 0) + 1 )); echo $n > ` + counter + `; echo $n
checks:
  - w.polls >= 5 && w.held_s >= 1 && w.false_polls == 1
`
	l, err := LoadScenario("f.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc := Run(ctx, []*Loaded{l}, Options{StateDir: t.TempDir()}).Scenarios[0]
	if !sc.Passed() {
		for _, c := range sc.Checks {
			t.Logf("check %s: %s %s", c.Expr, c.Status, c.Message)
		}
		t.Fatalf("scenario did not pass: %s; step: %s %s\n%s", sc.Aborted, sc.Steps[0].Status, sc.Steps[0].Message, sc.Steps[0].Log)
	}
	if st := sc.Steps[0]; st.Status != report.Passed || !strings.Contains(st.Log, "int(stdout) != 3 false again after") {
		t.Errorf("wait_until: %s %s; want passed, its log saying the third poll started the hold over:\n%s", st.Status, st.Message, st.Log)
	}
}

// TestCheckHold: a check with hold passes only when expr stays true on every
// evaluation for that long, and fails at the first false one with the value
// seen and how far into the hold it came. The poll step counts its runs in
// a file.
func TestCheckHold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr, hold string
		status           report.Status
		message          *regexp.Regexp
		checks           string
	}{
		{"holds", "int(stdout) < 100", "60ms", report.Passed, regexp.MustCompile(`^$`), "c.polls >= 2 && c.held_s >= 0.06"},
		{"false on the third", "int(stdout) != 3", "1m", report.Failed,
			regexp.MustCompile(`^int\(stdout\) != 3: stdout = "3"; false after 0\.[0-9] s of the 1m0s hold \(evaluation 3\) \(must stay up\)$`), "true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			counter := filepath.Join(t.TempDir(), "n")
			src := `name: check hold
steps:
  - id: c
    kind: check
    expr: ` + tc.expr + `
    hold: ` + tc.hold + `
    interval: 20ms
    message: must stay up
    poll:
      kind: shell
      command: n=$(( $(cat ` + counter + ` 2>/dev/null || echo 0) + 1 )); echo $n > ` + counter + `; echo $n
checks:
  - ` + tc.checks + `
`
			l, err := LoadScenario("f.yaml", []byte(src), nil, map[string]bool{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			run := Run(ctx, []*Loaded{l}, Options{StateDir: t.TempDir()})
			sc := run.Scenarios[0]
			st := sc.Steps[0]
			if st.Status != tc.status || !tc.message.MatchString(st.Message) {
				t.Fatalf("check: %s %q; want %s matching %s\n%s", st.Status, st.Message, tc.status, tc.message, st.Log)
			}
			if tc.status == report.Passed && !sc.Passed() {
				t.Errorf("scenario: %s; checks: %+v", sc.Aborted, sc.Checks[0])
			}
			if tc.status == report.Failed && run.ExitCode() != report.ExitCheckFailed {
				t.Errorf("exit %d, want %d", run.ExitCode(), report.ExitCheckFailed)
			}
		})
	}
}
