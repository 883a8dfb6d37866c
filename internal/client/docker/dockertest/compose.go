package dockertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Compose starts a compose project from composeYAML under a fresh unique name and returns the
// name. t.Cleanup removes it (down -v --remove-orphans), whether the test passed or not. It uses
// `docker compose` when the CLI has it, else docker-compose (v1).
func Compose(t testing.TB, composeYAML string) string {
	t.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	project := "drilltest" + hex.EncodeToString(suffix)
	dir := t.TempDir()
	file := filepath.Join(dir, "docker-compose.yml")
	if err := os.WriteFile(file, []byte(composeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, args ...string) ([]byte, error) {
		bin, pre := composeCommand()
		cmd := exec.CommandContext(ctx, bin, append(append(pre, "-p", project, "-f", file), args...)...)
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := run(ctx, "down", "-v", "--remove-orphans", "-t", "1"); err != nil {
			t.Errorf("compose down %s: %v\n%s", project, err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := run(ctx, "up", "-d"); err != nil {
		t.Fatalf("compose up %s: %v\n%s", project, err, out)
	}
	return project
}

// composeCommand returns the compose CLI to run: "docker compose" when the docker CLI has the
// plugin, else "docker-compose".
func composeCommand() (string, []string) {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return "docker", []string{"compose"}
	}
	return "docker-compose", nil
}
