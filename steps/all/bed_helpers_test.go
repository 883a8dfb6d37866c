//go:build testbed || testbed_hosts

package all_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
)

// runOnBed loads a scenario body against a cluster file of the test bed and
// runs it.
func runOnBed(t *testing.T, clusterFile, body string) *report.Scenario {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("../../examples/testbed", clusterFile))
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("name: %s\ncluster: %s\n%s", t.Name(), abs, body)
	l, err := runner.LoadScenario("drill.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatalf("load:\n%v\n%s", err, src)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc := runner.Run(ctx, []*runner.Loaded{l}, runner.Options{StateDir: t.TempDir()}).Scenarios[0]
	for _, st := range append(sc.Steps, sc.Cleanup...) {
		t.Logf("step %s %s: %s %s\n%s", st.Kind, st.Name, st.Status, st.Message, st.Log)
	}
	for _, u := range sc.Undo {
		t.Logf("undo %s: %s %s", u.Fault, u.Status, u.Message)
	}
	return sc
}

// recorded is the value step recorded under name.
func recorded(t *testing.T, sc *report.Scenario, step, name string) any {
	t.Helper()
	v := lookup(sc, step, name)
	if v == nil {
		t.Fatalf("step %s recorded no %s", step, name)
	}
	return v
}

// lookup is what the step recorded under name, or nil.
func lookup(sc *report.Scenario, step, name string) any {
	for _, s := range sc.Metrics {
		if s.Step == step && s.Name == name {
			return s.Value
		}
	}
	return nil
}

// healthy waits for a healthy cluster, in a step with the given id.
func healthy(id string) string {
	return "  - id: " + id + "\n    kind: patroni.wait_healthy\n    members: 3\n    max_lag_mb: 1\n    timeout: 3m\n"
}
