package dsl

import (
	"strings"
	"testing"
)

// TestYAMLSyntaxPositions checks that a YAML syntax error points at the
// offending line and column, not at the line where the broken construct
// began (or 1:1 when the YAML parser names no line).
func TestYAMLSyntaxPositions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src, want string }{
		{"unclosed bracket on line 1", "name: [a, b\nsteps:\n  - kind: sleep\n",
			`f.yaml:1:7: YAML syntax: did not find expected ',' or ']': this [ is never closed`},
		{"unclosed bracket at the end", "name: a\nsteps: [\n",
			`f.yaml:2:8: YAML syntax: did not find expected node content: this [ is never closed`},
		{"unclosed bracket in a step", "name: a\nsteps:\n  - kind: sleep\n    duration: [1s\n  - kind: sleep\n",
			`f.yaml:4:15: YAML syntax: did not find expected ',' or ']': this [ is never closed`},
		{"unclosed brace", "name: a\nsteps:\n  - {kind: sleep, duration: 1s\n",
			`f.yaml:3:5: YAML syntax: did not find expected ',' or '}': this { is never closed`},
		{"NUL byte", "name: a\nsteps:\n  - kind: sleep\n    duration: 1s\x00\n",
			`f.yaml:4:17: YAML syntax: control characters are not allowed`},
		{"invalid UTF-8", "name: a\xff\n",
			`f.yaml:1:8: YAML syntax: invalid leading UTF-8 octet`},
		{"tab indentation", "name: a\nsteps:\n- kind: sleep\n\tduration: 1s\n",
			`f.yaml:4:1: YAML syntax: found a tab character that violates indentation: indent with spaces, not tabs`},
		{"tab starting a line", "name: tab\nsteps:\n\t- kind: sleep\n",
			`f.yaml:3:1: YAML syntax: found character that cannot start any token: indent with spaces, not tabs`},
		{"bad indentation", "name: broken\nsteps:\n  - kind: sleep\n    duration: 1s\n   bad: indentation\n",
			`f.yaml:5:4: YAML syntax: did not find expected '-' indicator`},
		{"key in the middle of a value", "name: a\nsteps:\n  - kind: sleep\n    duration: 1s: 2s\n",
			`f.yaml:4:5: YAML syntax: mapping values are not allowed in this context`},
		{"closed brackets, then a bad line", "name: [a]\nsteps:\n  - kind: sleep\n duration: 1s\n",
			`f.yaml:4:2: YAML syntax: did not find expected key`},
		{"a control character in a comment", "name: a\nsteps: [\n# \x1b\n",
			`f.yaml:3:3: YAML syntax: control characters are not allowed`},
		{"bad indentation after many steps", "name: long\nsteps:\n" + strings.Repeat("  - kind: sleep\n    duration: 1s\n", 2000) + "   bad: indentation\n",
			`f.yaml:4003:4: YAML syntax: did not find expected '-' indicator`},
		{"a quoted text over lines, then a bad line", "name: a\ndescription: \"one\n  two\"\nsteps:\n  - kind: sleep\n duration: 1s\n",
			`f.yaml:6:2: YAML syntax: did not find expected key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.src))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
