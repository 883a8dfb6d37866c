package runner

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
)

// TestWaitUntilHold: with hold, wait_until ends only once expr has stayed
// true for that long; a false evaluation starts the hold again. The poll
// step counts its runs in a file; expr is false on the third.
func TestWaitUntilHold(t *testing.T) {
	t.Parallel()
	counter := filepath.Join(t.TempDir(), "n")
	src := `name: hold
steps:
  - id: w
    kind: wait_until
    expr: int(stdout) != 3
    interval: 20ms
    hold: 60ms
    poll:
      kind: shell
      command: n=$(( $(cat ` + counter + ` 2>/dev/null || echo 0) + 1 )); echo $n > ` + counter + `; echo $n
checks:
  - w.polls >= 5 && w.held_s >= 0.06
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
