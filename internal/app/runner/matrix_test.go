package runner

import (
	"slices"
	"testing"
)

// TestMatrixLoads: every combination is loaded with its values as vars, a
// kind taken from a var included; the first var varies slowest.
func TestMatrixLoads(t *testing.T) {
	t.Parallel()
	const src = `
name: m
cluster: {compose_project: drill-testbed, patroni: [http://127.0.0.1:18008]}
vars:
  fault: compose.kill
  sync: false
  rate: 10
matrix:
  fault: [compose.kill, compose.stop]
  sync: [false, true]
steps:
  - kind: ${fault}
    target: leader
  - kind: patroni.config
    set: {synchronous_mode: "${sync}"}
`
	all, err := LoadScenarios("m.yaml", []byte(src), map[string]string{"rate": "20"}, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range all {
		got = append(got, l.Steps[0].Kind.Name+" "+l.Steps[0].Spec.Name+" "+l.Matrix[1].Value)
		if l.Vars["sync"] != (l.Matrix[1].Value == "true") || l.Vars["rate"] != int64(20) {
			t.Errorf("%v: vars %v", l.Matrix, l.Vars)
		}
	}
	want := []string{"member.kill compose.kill false", "member.kill compose.kill true", "member.stop compose.stop false", "member.stop compose.stop true"}
	if !slices.Equal(got, want) {
		t.Errorf("combinations %q, want %q", got, want)
	}
	// --var pins a matrix var.
	pinned, err := LoadScenarios("m.yaml", []byte(src), map[string]string{"sync": "true"}, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pinned) != 2 || pinned[0].Matrix[1].Value != "true" || pinned[1].Matrix[1].Value != "true" {
		t.Errorf("--var sync=true: %d combinations %v", len(pinned), pinned[0].Matrix)
	}
}
