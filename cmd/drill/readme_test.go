package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/app/docs"
	"github.com/drill-dev/drill/internal/app/runner"
)

var update = flag.Bool("update", false, "rewrite generated files (the README's step catalogue)")

const (
	catalogueStart = "<!-- catalogue:start -->\n"
	catalogueEnd   = "<!-- catalogue:end -->"
)

// TestReadmeCatalogue keeps the README's step catalogue equal to what the
// registry generates; go test ./cmd/drill -update rewrites it.
func TestReadmeCatalogue(t *testing.T) {
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start := strings.Index(readme, catalogueStart)
	end := strings.Index(readme, catalogueEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the %q ... %q markers", catalogueStart, catalogueEnd)
	}
	var buf bytes.Buffer
	docs.WriteMarkdown(&buf)
	want := readme[:start+len(catalogueStart)] + buf.String() + readme[end:]
	if want == readme {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the README's step catalogue is out of date: run go test ./cmd/drill -run TestReadmeCatalogue -update")
}

// TestReadmeExample loads the README's example drill: it must stay valid.
func TestReadmeExample(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no yaml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	if _, err := runner.LoadScenario("README.md", []byte(example), nil, map[string]bool{}); err != nil {
		t.Errorf("the README's example does not load:\n%v", err)
	}
}
