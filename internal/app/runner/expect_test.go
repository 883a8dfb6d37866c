package runner

import (
	"context"
	"testing"

	"github.com/drill-dev/drill/internal/app/report"
)

// TestExpectError: a step that must fail passes when its error matches,
// fails the drill (exit 1) when it succeeds, and stays an error (exit 3)
// when it fails another way; it is tried once whatever its retry says.
func TestExpectError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, step string
		status     report.Status
		message    string
		exit       int
	}{
		{"fails as expected", "kind: shell\n    command: exit 3\n    expect_error: exited with 3", report.Passed, "", 0},
		{"succeeds instead", "kind: shell\n    command: \"true\"\n    expect_error: refused", report.Failed, `expect_error "refused": the step succeeded`, 1},
		{"fails another way", "kind: shell\n    command: exit 4\n    expect_error: exited with 3\n    retry: {attempts: 5, interval: 1ms}", report.Error,
			`failed, but not as expect_error "exited with 3" says: "exit 4" exited with 4, expected 0`, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := LoadScenario("f.yaml", []byte("name: x\nsteps:\n  - "+tc.step+"\n"), nil, map[string]bool{})
			if err != nil {
				t.Fatal(err)
			}
			run := Run(context.Background(), []*Loaded{l}, Options{StateDir: t.TempDir()})
			st := run.Scenarios[0].Steps[0]
			if st.Status != tc.status || st.Message != tc.message || st.Attempts != 1 || run.ExitCode() != tc.exit {
				t.Errorf("got %s %q after %d attempts, exit %d; want %s %q after 1, exit %d", st.Status, st.Message, st.Attempts, run.ExitCode(), tc.status, tc.message, tc.exit)
			}
		})
	}
}
