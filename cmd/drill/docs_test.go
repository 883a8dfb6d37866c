package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/internal/app/docs"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/golden"
	"github.com/drill-dev/drill/steps"
)

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
	golden.Check(t, path, []byte(doc[:start+len(catalogueStart)]+buf.String()+doc[end:]))
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

// docBlock is one fenced yaml block of a Markdown file.
type docBlock struct {
	line int // line of the block's first content line, 1-based
	text string
}

// yamlBlocks returns the ```yaml blocks of a Markdown text.
func yamlBlocks(md string) []docBlock {
	var out []docBlock
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```yaml" {
			continue
		}
		b := docBlock{line: i + 2}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		b.text = strings.Join(body, "\n") + "\n"
		out = append(out, b)
	}
	return out
}

var (
	stepsKey   = regexp.MustCompile(`(?m)^steps:`)
	clusterKey = regexp.MustCompile(`(?m)^(members|patroni|compose_project):`)
)

// TestDocsExamples loads every yaml block of the user documents that is a
// whole scenario (it has a top-level steps: key) as drill validate would,
// loads every block that is a shared cluster file (top-level members,
// patroni or compose_project) as the cluster of a one-step scenario, and
// checks that every other yaml block is at least valid YAML. A scenario's
// relative cluster: path is resolved from the document's directory, and
// errors name the document's own lines.
func TestDocsExamples(t *testing.T) {
	for _, doc := range []struct {
		path         string
		minScenarios int
	}{
		{"README.md", 1},
		{"docs/writing-drills.md", 5},
		{"CONTRIBUTING.md", 0},
	} {
		data, err := os.ReadFile("../../" + doc.path)
		if err != nil {
			t.Fatal(err)
		}
		scenarios := 0
		for _, b := range yamlBlocks(string(data)) {
			// Pad with blank lines so that positions are the document's.
			src := strings.Repeat("\n", b.line-1) + b.text
			if !stepsKey.MatchString(b.text) && clusterKey.MatchString(b.text) {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				stub := "name: cluster file\ncluster: cluster.yaml\nsteps:\n  - kind: sleep\n    duration: 1s\n"
				if _, err := runner.LoadScenario(filepath.Join(dir, "stub.yaml"), []byte(stub), nil, map[string]bool{}); err != nil {
					t.Errorf("%s:%d: the example cluster file does not load:\n%v", doc.path, b.line, err)
				}
				continue
			}
			if !stepsKey.MatchString(b.text) {
				var n yaml.Node
				if err := yaml.Unmarshal([]byte(src), &n); err != nil {
					t.Errorf("%s:%d: the yaml block is not valid YAML: %v", doc.path, b.line, err)
				}
				continue
			}
			scenarios++
			if _, err := runner.LoadScenario("../../"+doc.path, []byte(src), nil, map[string]bool{}); err != nil {
				t.Errorf("%s:%d: the example drill does not load:\n%v", doc.path, b.line, err)
			}
		}
		if scenarios < doc.minScenarios {
			t.Errorf("%s: found %d example drills, want at least %d (is every example in a ```yaml block?)", doc.path, scenarios, doc.minScenarios)
		}
	}
}

// TestKindExamples loads the example step of every kind (drill kinds NAME
// shows it) after steps that record what the examples refer to.
func TestKindExamples(t *testing.T) {
	const before = "name: example\nsteps:\n" +
		"  - id: pause\n    kind: compose.pause\n    target: a\n" +
		"  - id: cut\n    kind: network.disconnect\n    target: a\n" +
		"  - id: stop\n    kind: compose.stop\n    target: a\n" +
		"  - id: kill\n    kind: process.kill\n    target: a\n    process: postmaster\n" +
		"  - id: freeze\n    kind: process.freeze\n    target: a\n    process: patroni\n" +
		"  - kind: patroni.status\n  - kind: pg.lag\n" +
		"  - kind: writer.start\n  - kind: reader.start\n    follows: writer\n  - kind: watch.split_brain\n  - kind: guard.start\n    guard: lag\n    expr: lag_mb > 16\n"
	for _, k := range steps.Kinds() {
		if k.Example == "" {
			t.Errorf("%s has no example", k.Name)
			continue
		}
		src := before + "  - " + strings.ReplaceAll(k.Example, "\n", "\n    ") + "\n"
		if _, err := runner.LoadScenario(k.Name+".yaml", []byte(src), nil, map[string]bool{}); err != nil {
			t.Errorf("the example of %s does not load: %v\n%s", k.Name, err, src)
		}
	}
}

// machineBound are metrics whose value depends on how fast the machine is,
// not on how the cluster behaves: a shipped drill compares them to a var
// (its seed target as the default), never to a literal, so that CI can pass
// a floor suited to a shared runner.
var machineBound = []string{"insert_ops", "max_ack_gap_s", "reads_per_s"}

// TestShippedScenariosCIVars: scripts/e2e's --var values load with the
// shipped drills (each one is declared and used by a check), and no shipped
// check compares a machine-bound metric to a literal number.
func TestShippedScenariosCIVars(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile("../../scripts/e2e")
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string]string{}
	for _, m := range regexp.MustCompile(`--var (\w+)="\$\{\w+:-([^}]+)\}"`).FindAllStringSubmatch(string(script), -1) {
		overrides[m[1]] = m[2]
	}
	if len(overrides) < len(machineBound) {
		t.Fatalf("scripts/e2e passes %v, want a --var name=\"${ENV:-default}\" for each machine-bound target", overrides)
	}
	loaded, err := runner.Load([]string{"../../scenarios"}, overrides)
	if err != nil {
		t.Fatalf("the shipped drills with scripts/e2e's vars %v:\n%v", overrides, err)
	}
	used := map[string]bool{}
	literal := regexp.MustCompile(`\.(` + strings.Join(machineBound, "|") + `)\s*[<>]=?\s*[0-9]`)
	for _, l := range loaded {
		for _, c := range l.Checks {
			for name := range overrides {
				if strings.Contains(c.Spec.Expr, "vars."+name) {
					used[name] = true
				}
			}
			if literal.MatchString(c.Spec.Expr) {
				t.Errorf("%s: check %q compares a machine-bound metric to a literal: use a var", c.Spec.Pos, c.Spec.Expr)
			}
		}
	}
	for name := range overrides {
		if !used[name] {
			t.Errorf("scripts/e2e sets --var %s, which no shipped check uses", name)
		}
	}
}
