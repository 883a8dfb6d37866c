//go:build kube

package runner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/client/kube/kubetest"
	_ "github.com/drill-dev/drill/steps/all"
)

// TestKubernetesRefusalStopsTheRunBeforeAnyFault: on a real API server, a
// user who may only read pods runs a drill that deletes one pod and pauses
// another. The run ends in error before its first step, naming every verb
// it lacks, and nothing is touched: both pods are there, without ephemeral
// containers, and the ledger holds nothing.
func TestKubernetesRefusalStopsTheRunBeforeAnyFault(t *testing.T) {
	srv := kubetest.Start(t)
	admin := srv.AdminClient(t)
	admin.Namespace("db", nil)
	for _, p := range []string{"pg-0", "pg-1"} {
		admin.Pod("db", p, map[string]string{"app": "pg"}, "patroni")
	}
	admin.Grant("db", kubetest.Drill, kubetest.Rule([]string{"get", "list"}, "pods"))

	src := fmt.Sprintf(`name: refused
cluster:
  platform: kubernetes
  kubernetes:
    kubeconfig: %s
    namespace: db
    selector: app=pg
    agent_image: drill-testbed:latest
steps:
  - kind: compose.stop
    target: pg-0
  - kind: compose.pause
    target: pg-1
`, srv.Kubeconfig(kubetest.Drill))
	loaded, err := runner.LoadScenarios("refused.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	res := runner.Run(ctx, loaded, runner.Options{StateDir: dir, CleanupTimeout: time.Minute})
	sc := res.Scenarios[0]
	want := "does not let drill delete pods, update pods/ephemeralcontainers, create pods/exec in namespace db: grant these verbs with a Role and RoleBinding"
	if !strings.Contains(sc.Error, want) {
		t.Errorf("scenario error = %q, want it to contain %q", sc.Error, want)
	}
	if len(sc.Steps) != 2 {
		t.Fatalf("%d steps in the result, want 2", len(sc.Steps))
	}
	for _, st := range sc.Steps {
		if st.Status != report.Skipped || st.Message != "the platform refuses what the steps need" {
			t.Errorf("step %s: %s %q, want skipped because the platform refuses", st.Name, st.Status, st.Message)
		}
	}
	if len(sc.Undo) != 0 {
		t.Errorf("undo ran for %d faults", len(sc.Undo))
	}
	for _, p := range []string{"pg-0", "pg-1"} {
		if !admin.PodExists("db", p) {
			t.Errorf("pod %s is gone", p)
		}
		if n := len(admin.EphemeralContainers("db", p)); n != 0 {
			t.Errorf("pod %s has %d ephemeral containers", p, n)
		}
	}
}
