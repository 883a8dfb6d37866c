package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/docs"
	"github.com/drill-dev/drill/internal/runner"
)

var update = flag.Bool("update", false, "rewrite generated files: docs/steps.md (TestStepCatalogue) and testdata/status/snapshot.golden (TestSnapshotGolden)")

const (
	catalogueStart = "<!-- catalogue:start -->\n"
	catalogueEnd   = "<!-- catalogue:end -->"
)

// TestStepCatalogue keeps the step catalogue in docs/steps.md equal to what
// the registry generates (drill kinds --markdown); go test ./cmd/drill -run
// TestStepCatalogue -update rewrites it between the markers.
func TestStepCatalogue(t *testing.T) {
	const path = "../../docs/steps.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	start := strings.Index(doc, catalogueStart)
	end := strings.Index(doc, catalogueEnd)
	if start < 0 || end < start {
		t.Fatalf("docs/steps.md lacks the %q ... %q markers", catalogueStart, catalogueEnd)
	}
	var buf bytes.Buffer
	docs.WriteMarkdown(&buf)
	want := doc[:start+len(catalogueStart)] + buf.String() + doc[end:]
	if want == doc {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the step catalogue in docs/steps.md is out of date: run go test ./cmd/drill -run TestStepCatalogue -update")
}

// TestReadmeExample loads the README's example drill (its first yaml
// block): it must stay valid.
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
