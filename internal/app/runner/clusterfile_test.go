package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestClusterFilesParsedOnce checks that one load parses a shared cluster
// file once, whatever path names it, and again when the file changes.
func TestClusterFilesParsedOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(path, []byte("compose_project: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var c clusterFiles
	first, err := c.read(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.read(filepath.Join(dir, ".", "cluster.yaml"))
	if err != nil || again != first {
		t.Fatalf("second read: %p %v, want the first node %p", again, err, first)
	}
	if err := os.WriteFile(path, []byte("compose_project: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	changed, err := c.read(path)
	if err != nil || changed == first || changed.Content[1].Value != "b" {
		t.Fatalf("after a change: %v %v, want the new content", changed, err)
	}
}

// BenchmarkLoadShipped loads the shipped scenarios ten times over (100
// files sharing one cluster file), the way drill validate does.
func BenchmarkLoadShipped(b *testing.B) {
	dir := b.TempDir()
	files, err := filepath.Glob("../../../scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no shipped scenarios: %v", err)
	}
	data, err := os.ReadFile("../../../examples/testbed/cluster.yaml")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "examples", "testbed"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "examples", "testbed", "cluster.yaml"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	scenarios := filepath.Join(dir, "scenarios")
	if err := os.MkdirAll(scenarios, 0o755); err != nil {
		b.Fatal(err)
	}
	n := 0
	for n < 100 {
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(scenarios, fmt.Sprintf("s%03d.yaml", n)), src, 0o644); err != nil {
				b.Fatal(err)
			}
			if n++; n == 100 {
				break
			}
		}
	}
	benchLoad(b, scenarios)
}
