package all_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/docker/dockertest"
	"github.com/drill-dev/drill/internal/fault"
)

// TestDrillInterruptedMidFault runs the drill binary on a scenario that
// partitions, pauses and disconnects, and stops it in the middle: with
// Ctrl-C drill undoes everything itself; after kill -9, drill cleanup does.
func TestDrillInterruptedMidFault(t *testing.T) {
	b := startBed(t, faultsCompose, bedMembers)
	p := b.p
	bin := filepath.Join(t.TempDir(), "drill")
	build := exec.Command("go", "build", "-o", bin, "github.com/drill-dev/drill/cmd/drill")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build drill: %v\n%s", err, out)
	}
	scenario := "name: mid-fault\n" + b.clusterBlock() + `steps:
  - kind: network.partition
    groups: [[leader], [b, "s#1"]]
  - kind: compose.pause
    target: c
  - kind: network.disconnect
    target: s
    index: 2
  - kind: shell
    command: touch started
  - kind: sleep
    duration: 2m
`
	// start runs drill in a fresh directory and returns once the faults are
	// in place, having checked that they are.
	start := func(t *testing.T) (cmd *exec.Cmd, dir string, out *bytes.Buffer) {
		dir = t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "drill.yaml"), []byte(scenario), 0o644); err != nil {
			t.Fatal(err)
		}
		out = &bytes.Buffer{}
		cmd = exec.Command(bin, "run", "drill.yaml", "--state-dir", "state")
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the scenario did not reach its sleep:\n%s", out)
			}
		}
		dockertest.Expect(t, p, ta, map[string]bool{"b:7000": false})
		dockertest.Expect(t, p, tb, map[string]bool{"a:7000": false})
		if s := inspect(t, p, tc); !s.Paused {
			t.Errorf("c is %s, want paused", s.Status)
		}
		if s := inspect(t, p, ts2); len(s.Networks) != 0 {
			t.Errorf("s#2 is on %+v, want no network", s.Networks)
		}
		return cmd, dir, out
	}
	exitCode := func(err error) int {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}

	t.Run("Ctrl-C", func(t *testing.T) {
		cmd, dir, out := start(t)
		cmd.Process.Signal(syscall.SIGINT)
		code := exitCode(cmd.Wait())
		t.Logf("drill run, interrupted:\n%s", out)
		if code != 130 {
			t.Errorf("drill exited %d after Ctrl-C, want 130", code)
		}
		assertClean(t, p, filepath.Join(dir, "state"), bedNetworks)
	})

	t.Run("kill -9, then drill cleanup", func(t *testing.T) {
		cmd, dir, out := start(t)
		cmd.Process.Kill()
		cmd.Wait()
		t.Logf("drill run, killed:\n%s", out)
		state := filepath.Join(dir, "state")
		pending, err := fault.Pending(state)
		if err != nil || len(pending) != 3 {
			t.Fatalf("ledger after kill -9: %v, %d open faults, want 3: %+v", err, len(pending), pending)
		}
		if s := inspect(t, p, tc); !s.Paused {
			t.Errorf("c is %s after kill -9, want still paused", s.Status)
		}
		cleanup := func() (string, int) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c := exec.CommandContext(ctx, bin, "cleanup", "--state-dir", "state")
			c.Dir = dir
			got, err := c.CombinedOutput()
			t.Logf("drill cleanup:\n%s", got)
			return string(got), exitCode(err)
		}
		got, code := cleanup()
		if code != 0 || strings.Count(got, "passed undo ") != 3 {
			t.Errorf("drill cleanup exited %d, want 0 and 3 faults undone", code)
		}
		assertClean(t, p, state, bedNetworks)
		if files, _ := filepath.Glob(filepath.Join(state, "ledger-*")); len(files) != 0 {
			t.Errorf("ledger files left after cleanup: %q", files)
		}
		if got, code := cleanup(); code != 0 || got != "nothing to undo in state\n" {
			t.Errorf("second drill cleanup: exit %d, %q; want nothing to undo", code, got)
		}
	})
}
