package procgroup

import (
	"context"
	"io"
	"os"
	"os/exec"
	"testing"
)

// holder starts sh -c script in its own group with the write end of a pipe
// as fd 3 and returns the read end: reading it ends when every process that
// inherited fd 3 is gone.
func holder(t *testing.T, ctx context.Context, script string) (*exec.Cmd, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.ExtraFiles = []*os.File{w}
	t.Cleanup(func() { w.Close() })
	return cmd, r
}

// TestRunKillsLeftBehindChildren: a child the command leaves in the
// background dies with the command.
func TestRunKillsLeftBehindChildren(t *testing.T) {
	cmd, r := holder(t, context.Background(), "(sleep 30; echo late >&3) & echo started")
	if err := Run(cmd); err != nil {
		t.Fatal(err)
	}
	cmd.ExtraFiles[0].Close()
	if late, err := io.ReadAll(r); err != nil || len(late) > 0 { // returns once the background child is dead
		t.Fatalf("the background child lived on: read %q, %v", late, err)
	}
	if n := len(live); n != 0 {
		t.Errorf("%d groups still registered after Run returned", n)
	}
}

// TestKillAll: KillAll ends a running command's whole group, and Run then
// returns the kill.
func TestKillAll(t *testing.T) {
	cmd, r := holder(t, context.Background(), "echo >&3; (sleep 30; echo late >&3) & sleep 30")
	done := make(chan error, 1)
	go func() { done <- Run(cmd) }()
	buf := make([]byte, 1)
	if _, err := r.Read(buf); err != nil { // the group is up
		t.Fatal(err)
	}
	if n := KillAll(); n != 1 {
		t.Errorf("KillAll signalled %d groups, want 1", n)
	}
	err := <-done
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Errorf("Run returned %v, want the leader killed by a signal", err)
	}
	cmd.ExtraFiles[0].Close()
	if late, err := io.ReadAll(r); err != nil || len(late) > 0 { // returns once the whole group is dead
		t.Fatalf("the group lived on: read %q, %v", late, err)
	}
}
