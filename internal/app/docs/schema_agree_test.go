package docs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/steps"
)

func compiledSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("drill.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("drill.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return schema
}

// schemaAccepts says whether the schema accepts a file; a file that is
// not YAML one mapping can hold is refused, as an editor would flag it.
func schemaAccepts(schema *jsonschema.Schema, data []byte) (bool, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return false, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first, second yaml.Node
	if dec.Decode(&first) == nil && dec.Decode(&second) == nil {
		return false, fmt.Errorf("a second document")
	}
	// The validator reads JSON values: round-trip through JSON.
	j, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	jv, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return false, err
	}
	err = schema.Validate(jv)
	return err == nil, err
}

// schemaBlind lists the invalid corpus files whose problem JSON Schema
// cannot express, with the reason: the schema accepts them and only the
// loader refuses them.
var schemaBlind = map[string]string{
	"19-bad-url.yaml":                   "a value checked by the kind's Validate method (Go code)",
	"24-duplicate-id.yaml":              "duplicate step ids: a cross-reference between steps",
	"25-duplicate-name.yaml":            "duplicate step names: a cross-reference between steps",
	"27-undefined-var.yaml":             "a ${var} that no var declares: a cross-reference",
	"28-bad-reference.yaml":             "a ${...} reference's syntax inside text",
	"29-unterminated-ref.yaml":          "a ${...} reference's syntax inside text",
	"30-ref-unknown-step.yaml":          "${step.metric} naming no earlier step: a cross-reference",
	"31-ref-later-step.yaml":            "${step.metric} naming a later step: order of steps",
	"32-ref-unknown-metric.yaml":        "${step.metric} naming a metric the step does not record",
	"34-check-syntax.yaml":              "an expression's syntax",
	"35-check-unknown-metric.yaml":      "an expression naming a metric no step records",
	"36-check-type-mismatch.yaml":       "an expression's types",
	"37-check-not-bool.yaml":            "an expression's types",
	"38-check-step-unknown-metric.yaml": "an expression naming a metric no earlier step records",
	"47-step-id-clash.yaml":             "a step id equal to a metric name: a cross-reference",
	"48-check-block-scalar.yaml":        "an expression's types",
	"49-check-step-block-scalar.yaml":   "an expression naming a metric no earlier step records",
	"53-check-folded-block.yaml":        "an expression's types",
	"51-check-cut-by-comment.yaml":      "an expression's syntax",
	"54-member-unknown.yaml":            "a member name the cluster block does not list: a cross-reference to the cluster block",
	"55-wait-leader-member.yaml":        "a member name the cluster block does not list: a cross-reference to the cluster block",
	"56-role-typo.yaml":                 "a target that is no role, member or service: a cross-reference to the cluster block",
	"57-target-typo-cluster.yaml":       "a target that is no role, member or service: a cross-reference to the cluster block",
	"58-fault-ref-unknown.yaml":         "fault: naming no step: a cross-reference between steps",
	"59-fault-ref-later.yaml":           "fault: naming a later step: order of steps",
	"60-fault-ref-not-fault.yaml":       "fault: naming a step of the wrong kind: a cross-reference between steps",
	"61-writer-unknown.yaml":            "writer: naming no running writer: a cross-reference between steps",
	"62-watcher-wrong-kind.yaml":        "watcher: naming a task of the wrong kind: a cross-reference between steps",
	"63-writer-later.yaml":              "writer: started by a later step: order of steps",
	"64-http-body-var.yaml":             "a ${var} that no var declares: a cross-reference",
	"65-config-set-ref.yaml":            "${step.metric} naming no earlier step: a cross-reference",
	"66-shell-env-var.yaml":             "a ${var} that no var declares: a cross-reference",
	"67-timeout-zero.yaml":              "a duration's value (more than 0): checked in Go, the schema takes any duration text",
	"68-timeout-huge.yaml":              "a duration's value (at most 24h): checked in Go, the schema takes any duration text",
	"69-expect-exit.yaml":               "a value checked by the kind's Validate method (Go code)",
	"70-poll-id.yaml":                   "an id on a nested step: the schema of a nested step is a step's",
	"71-cluster-step-ref.yaml":          "a ${step.metric} in the cluster block: where a reference stands",
	"72-cluster-two-documents.yaml":     "the content of the shared cluster file: another file",
	"73-grace-ms.yaml":                  "whole seconds: a duration's value, checked in Go",
	"74-patroni-url-scheme.yaml":        "a URL's scheme: a value checked in Go",
	"75-var-cycle.yaml":                 "vars that refer to each other in a cycle: a cross-reference",
	"76-cluster-device.yaml":            "the kind of file the cluster path names: outside the document",
	"77-cluster-absolute-missing.yaml":  "a cluster path that does not exist: outside the document",
	"80-process-unknown.yaml":           "a process name the cluster block does not define: a cross-reference to the cluster block",
	"81-process-two-finders.yaml":       "match and pid_file together: checked in Go",
	"82-process-no-finder.yaml":         "a new process without a finder: depends on the built-in names, checked in Go",
	"83-process-bad-match.yaml":         "a regular expression's syntax: checked in Go",
	"84-process-relative-pid-file.yaml": "an absolute path: a value checked in Go",
	"85-process-start-user.yaml":        "an empty start and a user without start or not a user name: checked in Go",
	"78-expect-error-bad.yaml":          "a regular expression's syntax: checked in Go",
	"79-expect-error-nested.yaml":       "expect_error on a nested step: the schema of a nested step is a step's",
	"87-tags-bad-type.yaml":             "a tag's type depends on its name in a free-form mapping: checked in Go",
	"88-tags-priority.yaml":             "a tag's type depends on its name in a free-form mapping: checked in Go",
	"89-tags-nothing.yaml":              "set or clear, one of two optional parameters: checked in Go",
	"90-tags-set-and-clear.yaml":        "a tag in both set and clear: a cross-reference between parameters",
	"95-guard-stop-unknown.yaml":        "guard: naming no running guard: a cross-reference between steps",
	"96-check-hold-no-interval.yaml":    "hold without interval: a value checked by the kind's Validate method (Go code)",
	"97-check-hold-no-poll.yaml":        "hold without poll: a value checked by the kind's Validate method (Go code)",
	"98-guard-poll-fault.yaml":          "a nested step's kind that injects a fault: checked when the step is built (Go code)",
	"99-on-all-one-node.yaml":           "a target word a one-node step does not take: checked against the targets vocabulary (Go code)",
	"100-log-wait-every-replica.yaml":   "a target word a one-member step does not take: checked against the targets vocabulary (Go code)",
	"101-tags-every-replica.yaml":       "a target word a one-member step does not take: checked against the targets vocabulary (Go code)",
	"150-matrix-unknown-var.yaml":       "a matrix var that vars does not declare: a cross-reference",
	"152-matrix-too-many.yaml":          "the product of the matrix's list lengths: arithmetic a schema cannot do",
	"157-matrix-secret.yaml":            "a matrix var declared secret under vars: a cross-reference",
	"158-matrix-value-type.yaml":        "a matrix value that does not fit its var's default: a cross-reference",
	"160-p95-in-step.yaml":              "an expression's content: compiled in Go",
	"161-distribution-mixed.yaml":       "an expression's content: compiled in Go",
	"162-distribution-string.yaml":      "an expression's content: compiled in Go",
	"163-p95-expression.yaml":           "an expression's content: compiled in Go",
	"164-kind-from-var.yaml":            "a kind written as a ${var}: resolved with the vars, in Go",
	"165-reader-stop-unstarted.yaml":    "reader: naming a writer, or no running reader: a cross-reference between steps",
	"166-reader-follows-unknown.yaml":   "follows: naming no writer started before: a cross-reference between steps",
	"167-reader-concurrency.yaml":       "a value checked by the kind's Validate method (Go code)",
	"174-replica-route-write.yaml":      "a target word a writing step does not take: checked against the targets vocabulary (Go code)",
	"175-replica-route-no-dsn.yaml":     "replica_route in a cluster block without replica_dsn: a cross-reference to the cluster block",
	"170-group-role-name.yaml":          "a group name that is a target word: checked against the targets vocabulary (Go code)",
	"171-group-unknown-host.yaml":       "a group entry the hosts block does not list: a cross-reference inside the cluster block",
	"172-group-nested.yaml":             "a group listing another group: a cross-reference inside the cluster block",
}

// TestSchemaAgreesWithLoader gives every shipped scenario and every file
// of the invalid corpus to both the loader and the schema: they must agree,
// but for the listed files whose problem a JSON Schema cannot express.
func TestSchemaAgreesWithLoader(t *testing.T) {
	schema := compiledSchema(t)
	shipped, _ := filepath.Glob("../../../scenarios/*.yaml")
	matrix, _ := filepath.Glob("../../../examples/matrix/*.yaml")
	shipped = append(shipped, matrix...)
	invalid, _ := filepath.Glob("../runner/testdata/invalid/*.yaml")
	if len(shipped) == 0 || len(invalid) < 40 {
		t.Fatalf("found %d shipped scenarios and %d invalid ones", len(shipped), len(invalid))
	}
	var disagree []string
	for _, file := range append(shipped, invalid...) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, loadErr := runner.Load([]string{file}, nil)
		ok, why := schemaAccepts(schema, data)
		name := filepath.Base(file)
		reason, blind := schemaBlind[name]
		switch {
		case (loadErr == nil) == ok && blind:
			disagree = append(disagree, fmt.Sprintf("%s: listed as beyond the schema (%s) but both agree: take it off the list", name, reason))
		case (loadErr == nil) == ok:
		case blind && ok && loadErr != nil:
		default:
			disagree = append(disagree, fmt.Sprintf("%s: loader: %v\n  schema accepts: %v (%v)", name, loadErr, ok, why))
		}
	}
	sort.Strings(disagree)
	if len(disagree) > 0 {
		t.Errorf("the schema and the loader disagree:\n%s", strings.Join(disagree, "\n"))
	}
}

// TestSchemaAgreesOnValues gives small scenarios to both the loader and
// the schema: values at the edges of what the decoder reads.
func TestSchemaAgreesOnValues(t *testing.T) {
	schema := compiledSchema(t)
	head := "name: v\nvars: {pause: 1s, m: GET, n: 3, yes: true}\nsteps:\n"
	for _, tc := range []struct {
		step string
		ok   bool
	}{
		{"{kind: sleep, duration: '${pause}'}", true},
		{"{kind: sleep, duration: \"0\"}", true},
		{"{kind: sleep, duration: .5s}", true},
		{"{kind: sleep, duration: 1.5h}", true},
		{"{kind: sleep, duration: 5}", false},
		{"{kind: sleep, duration: soon}", false},
		{"{kind: sleep, duration: 1s, timeout: '${pause}'}", false},
		{"{kind: sleep, duration: 1s, timeout: .5s}", true},
		{"{kind: http, url: 'http://x', method: '${m}'}", true},
		{"{kind: http, url: 'http://x', method: GTE}", false},
		{"{kind: sleep, duration: 1s, retry: {attempts: 1000}}", true},
		{"{kind: sleep, duration: 1s, retry: {attempts: 1001}}", false},
		{"{kind: sleep, duration: 1s, retry: {attempts: 0}}", false},
		{"{kind: sleep, duration: 1s, retry: {attempts: '2'}}", false},
		{"{kind: sleep, duration: 1s, continue_on_error: '${yes}'}", false},
		{"{kind: shell, command: 5}", true},
		{"{kind: shell, command: echo, expect_exit: '${n}'}", true},
		{"{kind: shell, command: echo, expect_exit: '3'}", true},
		{"{kind: shell, command: echo, expect_exit: x}", false},
	} {
		src := head + "  - " + tc.step + "\n"
		_, loadErr := runner.LoadScenario("v.yaml", []byte(src), nil, map[string]bool{})
		ok, why := schemaAccepts(schema, []byte(src))
		if (loadErr == nil) != tc.ok {
			t.Errorf("%s: the loader says %v, the case says ok=%v", tc.step, loadErr, tc.ok)
		}
		if ok != tc.ok {
			t.Errorf("%s: the schema says %v (%v), the case says ok=%v", tc.step, ok, why, tc.ok)
		}
	}
}

// TestSchemaDescribesEveryProperty checks that an editor has a description
// to show for every key.
func TestSchemaDescribesEveryProperty(t *testing.T) {
	data, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var missing []string
	total := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if props, ok := x["properties"].(map[string]any); ok {
				for key, p := range props {
					total++
					if m, ok := p.(map[string]any); ok && m["description"] == nil {
						missing = append(missing, path+"."+key)
					}
				}
			}
			for k, c := range x {
				if k != "if" { // a condition, not keys to describe
					walk(path+"/"+k, c)
				}
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", root)
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d of %d properties have no description:\n%s", len(missing), total, strings.Join(missing, "\n"))
	}
}

// TestSchemaDefaultsFromKinds checks that every parameter default the
// catalogue shows (what Kind.New sets) is the schema's default too.
func TestSchemaDefaultsFromKinds(t *testing.T) {
	data, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Definitions struct {
			Step struct {
				AllOf []struct {
					If struct {
						Properties struct {
							Kind struct {
								Const string `json:"const"`
							} `json:"kind"`
						} `json:"properties"`
					} `json:"if"`
					Then struct {
						Properties map[string]map[string]any `json:"properties"`
					} `json:"then"`
				} `json:"allOf"`
			} `json:"step"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	byKind := map[string]map[string]map[string]any{}
	for _, b := range root.Definitions.Step.AllOf {
		byKind[b.If.Properties.Kind.Const] = b.Then.Properties
	}
	checked := 0
	for _, k := range steps.Kinds() {
		for _, p := range Params(k) {
			got, has := byKind[k.Name][p.Key]["default"]
			scalar := p.Type == "string" || p.Type == "int" || p.Type == "number" || p.Type == "bool" || p.Type == "duration"
			switch {
			case p.Default != "" && scalar && (!has || fmt.Sprint(got) != p.Default):
				t.Errorf("%s.%s: schema default %v, the kind's %q", k.Name, p.Key, got, p.Default)
			case p.Default == "" && has:
				t.Errorf("%s.%s: schema default %v, the kind has none", k.Name, p.Key, got)
			case has:
				checked++
			}
		}
	}
	if checked == 0 {
		t.Error("no default checked")
	}
}
