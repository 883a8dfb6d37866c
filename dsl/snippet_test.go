package dsl

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/golden"
)

// TestSnippetGolden renders parse errors of broken files with their
// snippets, plain and in colour, and compares them with
// testdata/snippet/*.golden (go test ./dsl -run TestSnippetGolden -update).
func TestSnippetGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src string }{
		{"unclosed-bracket", "name: a\nsteps:\n  - kind: sleep\n    duration: [1s\n  - kind: sleep\n"},
		{"first-line", "name: [a\nsteps: []\n"},
		{"tab", "name: a\nsteps:\n  - kind: sleep\n\t  duration: 1s\n"},
		{"nul", "name: a\nsteps:\n  - kind: sleep\x00\n"},
		{"wide-line-numbers", strings.Repeat("# comment\n", 8) + "name: a\nsteps:\n  - kind: sleep\n    timeout: soon\n  - id: 1x\n    kind: sleep\n"},
		{"many-errors", "name: a\nbogus: 1\nsteps:\n  - kind: sleep\n    timeout: soon\n    retry: {attempts: 0}\n"},
	} {
		_, err := Parse(tc.name+".yaml", []byte(tc.src))
		list, ok := err.(ErrorList)
		if !ok {
			t.Fatalf("%s: Parse = %v, want an ErrorList", tc.name, err)
		}
		src := func(string) []byte { return []byte(tc.src) }
		out := list.Render(src, false) + "\n\n--- colour ---\n" + list.Render(src, true) + "\n"
		golden.Check(t, filepath.Join("testdata", "snippet", tc.name+".golden"), []byte(out))
	}
}

func TestSnippetEdges(t *testing.T) {
	t.Parallel()
	src := []byte("a: 1\n\tb: 2\n")
	for _, tc := range []struct {
		pos  Pos
		want string
	}{
		{Pos{File: "f", Line: 0}, ""},
		{Pos{File: "f", Line: 3, Col: 1}, ""},
		{Pos{File: "f", Line: 1}, "> 1 | a: 1\n  2 | \tb: 2\n"},
		{Pos{File: "f", Line: 2, Col: 3}, "  1 | a: 1\n> 2 | \tb: 2\n    | \t ^\n"},
		{Pos{File: "f", Line: 1, Col: 9}, "> 1 | a: 1\n    |         ^\n  2 | \tb: 2\n"},
	} {
		if got := Snippet(src, tc.pos, false); got != tc.want {
			t.Errorf("Snippet(%v) =\n%q\nwant\n%q", tc.pos, got, tc.want)
		}
	}
}
