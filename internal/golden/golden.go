// Package golden compares test output with files kept in the repository
// (testdata/*.golden, generated documentation) and rewrites them on request:
//
//	go test ./internal/app/report -update
//
// It is a test helper: only _test.go files import it, since it registers the
// -update flag.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files with the output the tests get")

// Update reports whether the tests run with -update.
func Update() bool { return *update }

// Check compares got with the file at path (relative to the test's package
// directory, usually testdata/NAME). With -update it writes got to path
// instead. A mismatch or a missing file fails t with the differing lines and
// the command that refreshes the file.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	refresh := fmt.Sprintf("go test -run '^%s$' -update", topName(t))
	want, err := os.ReadFile(path)
	if *update {
		if err == nil && bytes.Equal(got, want) {
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("golden: wrote %s", path)
		return
	}
	if err != nil {
		t.Fatalf("golden: %v (%s creates it)", err, refresh)
	}
	if bytes.Equal(got, want) {
		return
	}
	t.Errorf("golden: the output differs from %s (%s rewrites it)\n%s", path, refresh, Diff(want, got))
}

// topName is the name of t's top-level test, for -run.
func topName(t testing.TB) string {
	name, _, _ := strings.Cut(t.Name(), "/")
	return name
}

// Diff describes how got differs from want, line by line: the first
// differing line of each, quoted so that invisible characters show, then the
// changed lines ("-" want, "+" got) with two lines of context.
func Diff(want, got []byte) string {
	w, g := splitLines(want), splitLines(got)
	first := 0
	for first < len(w) && first < len(g) && w[first] == g[first] {
		first++
	}
	var b strings.Builder
	switch {
	case first < len(w) && first < len(g):
		fmt.Fprintf(&b, "first difference at line %d:\n  want: %q\n   got: %q\n", first+1, w[first], g[first])
	case first < len(w):
		fmt.Fprintf(&b, "got ends at line %d; want goes on with %q\n", first, w[first])
	default:
		fmt.Fprintf(&b, "want ends at line %d; got goes on with %q\n", first, g[first])
	}
	b.WriteString("--- want\n+++ got\n")
	b.WriteString(lineDiff(w, g))
	return b.String()
}

// splitLines splits s after each newline; a missing final newline shows as
// "\ No newline at end of file" so that it is visible in the diff.
func splitLines(s []byte) []string {
	if len(s) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(s), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	}
	return lines
}

// maxCells bounds the edit table of lineDiff; bigger inputs get a plain
// listing of both sides from the first difference on.
const maxCells = 4 << 20

// lineDiff is a unified-style diff of a and b with two lines of context,
// from a longest common subsequence of lines.
func lineDiff(a, b []string) string {
	// Common prefix and suffix are not part of the table.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	am, bm := a[pre:len(a)-suf], b[pre:len(b)-suf]
	type op struct {
		kind byte // ' ', '-', '+'
		line string
	}
	var ops []op
	for _, l := range a[:pre] {
		ops = append(ops, op{' ', l})
	}
	if (len(am)+1)*(len(bm)+1) > maxCells {
		for _, l := range am {
			ops = append(ops, op{'-', l})
		}
		for _, l := range bm {
			ops = append(ops, op{'+', l})
		}
	} else {
		// lcs[i][j] is the length of the LCS of am[i:] and bm[j:].
		lcs := make([][]int, len(am)+1)
		for i := range lcs {
			lcs[i] = make([]int, len(bm)+1)
		}
		for i := len(am) - 1; i >= 0; i-- {
			for j := len(bm) - 1; j >= 0; j-- {
				if am[i] == bm[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(am) || j < len(bm) {
			switch {
			case i < len(am) && j < len(bm) && am[i] == bm[j]:
				ops = append(ops, op{' ', am[i]})
				i++
				j++
			case i < len(am) && (j == len(bm) || lcs[i+1][j] >= lcs[i][j+1]):
				ops = append(ops, op{'-', am[i]})
				i++
			default:
				ops = append(ops, op{'+', bm[j]})
				j++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, op{' ', l})
	}

	// Print the changes with two lines of context, "..." between hunks.
	const context = 2
	var out strings.Builder
	lastPrinted := -1
	for k, o := range ops {
		near := false
		for d := -context; d <= context && !near; d++ {
			near = k+d >= 0 && k+d < len(ops) && ops[k+d].kind != ' '
		}
		if !near {
			continue
		}
		if lastPrinted >= 0 && k > lastPrinted+1 || lastPrinted < 0 && k > 0 {
			out.WriteString("...\n")
		}
		out.WriteByte(o.kind)
		out.WriteString(o.line)
		lastPrinted = k
	}
	if lastPrinted >= 0 && lastPrinted < len(ops)-1 {
		out.WriteString("...\n")
	}
	return out.String()
}
