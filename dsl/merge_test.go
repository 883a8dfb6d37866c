package dsl

import (
	"testing"
	"time"
)

// TestMergeKeys checks that YAML merge keys work in steps: the merged
// entries are there, the step's own keys win, and a list of mappings gives
// precedence to the first.
func TestMergeKeys(t *testing.T) {
	t.Parallel()
	src := `name: merge
steps:
  - &stop
    kind: compose.stop
    service: pg1
    timeout: 30s
  - <<: *stop
    name: second
    service: pg2
  - <<: [{kind: sleep, timeout: 5s}, *stop]
    name: third
`
	sc, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	second, third := sc.Steps[1], sc.Steps[2]
	if second.Kind != "compose.stop" || second.Timeout != 30*time.Second || second.Name != "second" {
		t.Errorf("second step: %+v", second)
	}
	if p := second.Params.Content; len(p) != 2 || p[1].Value != "pg2" {
		t.Errorf("second step's params: the step's own service must win: %v", p)
	}
	if third.Kind != "sleep" || third.Timeout != 5*time.Second {
		t.Errorf("third step: the first merged mapping must win: %+v", third)
	}
	if p := third.Params.Content; len(p) != 2 || p[0].Value != "service" || p[0].Line != 5 {
		t.Errorf("third step's params keep the anchor's positions: %v", p)
	}
}

func TestMergeKeyErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"name: m\nsteps:\n  - <<: sleep\n    kind: sleep\n",
			`m.yaml:3:9: the merge key << takes a mapping (<<: *defaults) or a list of them, found "sleep"`},
		{"name: m\nsteps:\n  - &a kind: sleep\n  - <<: [*a]\n",
			"m.yaml:4:5: step has no kind: add \"kind: ...\" (drill kinds lists them)\n" +
				`m.yaml:4:10: the merge key << takes a mapping (<<: *defaults) or a list of them, found "kind"`},
	} {
		_, err := Parse("m.yaml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q)\n got  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}
