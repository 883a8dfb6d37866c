package docs

import (
	"strings"
	"testing"

	_ "github.com/drill-dev/drill/steps/all" // every step kind

	"go.yaml.in/yaml/v3"
)

// TestSchemaAcceptsWhatDrillAccepts checks the generated JSON Schema with an
// independent validator: it compiles, accepts a scenario using every part
// of the language, and rejects what drill rejects.
func TestSchemaAcceptsWhatDrillAccepts(t *testing.T) {
	schema := compiledSchema(t)
	valid := `
name: ok
vars: {rows: 10, token: {default: x, secret: true}}
cluster: {compose_project: p, patroni: ["http://127.0.0.1:8008"], members: {m1: {service: s1}}}
steps:
  - {id: a, kind: shell, command: "echo ${rows}", timeout: 5s, retry: {attempts: 2, interval: 1s}}
  - {kind: http, url: "http://127.0.0.1:1/", expect_status: [200], capture: {x: a.b}}
  - {kind: wait_until, expr: "x == 1", interval: 100ms, poll: {kind: shell, command: "true"}}
  - {kind: sleep, duration: 1m30s, continue_on_error: true}
checks: ["a.exit_code == 0", {name: n, expr: "true", message: m}]
cleanup: [{kind: shell, command: "true"}]
`
	if err := schema.Validate(yamlValue(t, valid)); err != nil {
		t.Errorf("a valid scenario is rejected: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown top key":   "name: x\nstepz: []\nsteps: [{kind: sleep, duration: 1s}]",
		"unknown kind":      "steps: [{kind: slep}]",
		"unknown parameter": "steps: [{kind: sleep, duraton: 1s}]",
		"missing required":  "steps: [{kind: sleep}]",
		"bad duration":      "steps: [{kind: sleep, duration: soon}]",
		"bad enum":          "steps: [{kind: http, url: 'http://x', method: GTE}]",
		"no steps":          "name: x",
	} {
		if err := schema.Validate(yamlValue(t, bad)); err == nil {
			t.Errorf("%s: the schema accepts %q", name, bad)
		}
	}
}

func yamlValue(t *testing.T, src string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(strings.TrimSpace(src)), &v); err != nil {
		t.Fatal(err)
	}
	return v
}
