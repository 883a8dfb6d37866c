package dsl

import (
	"bytes"
	"strings"

	"go.yaml.in/yaml/v3"
)

// TextPos locates the text of a scalar in its file, so that a position
// inside the text (an expression's compile error) can be turned into a
// file position.
type TextPos struct {
	// Start is where the text's first character is (for a block scalar, the
	// indicator | or > when the lines cannot be located).
	Start Pos
	// lines holds where each line of the text starts, when columns inside
	// the text are the same as in the file; nil when they are not.
	lines []Pos
}

// At returns the file position of the character at offset col (from 0) of
// line (from 1) of the text, and false when only Start can be given.
func (t TextPos) At(line, col int) (Pos, bool) {
	if line < 1 || line > len(t.lines) {
		return t.Start, false
	}
	p := t.lines[line-1]
	p.Col += col
	return p, true
}

// ScalarText locates a scalar's text. src is the whole file n was parsed
// from; without it (nil) the lines of a block scalar are not located.
// Columns are exact for a single-line plain scalar, a single-line quoted
// scalar without escapes, and every line of a literal block scalar (|).
func ScalarText(file string, src []byte, n *yaml.Node) TextPos {
	t := TextPos{Start: At(file, n)}
	oneLine := !strings.Contains(n.Value, "\n")
	switch n.Style {
	case 0, yaml.TaggedStyle:
		if oneLine {
			t.lines = []Pos{t.Start}
		}
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		t.Start.Col++
		if oneLine && !strings.ContainsAny(n.Value, `\'"`) {
			t.lines = []Pos{t.Start}
		}
	case yaml.LiteralStyle:
		t.lines = literalLines(file, src, n)
		if len(t.lines) > 0 {
			t.Start = t.lines[0]
		}
	}
	return t
}

// literalLines locates each line of a literal block scalar: line i of the
// value is line n.Line+i of the file, indented by the block's indentation.
func literalLines(file string, src []byte, n *yaml.Node) []Pos {
	if src == nil {
		return nil
	}
	fileLines := bytes.Split(src, []byte("\n"))
	valueLines := strings.Split(strings.TrimSuffix(n.Value, "\n"), "\n")
	indent := -1
	for i, v := range valueLines {
		if strings.TrimSpace(v) == "" {
			continue
		}
		at := n.Line + i // index of the file line holding value line i+1
		if at >= len(fileLines) {
			return nil
		}
		indent = leadingSpaces(string(fileLines[at])) - leadingSpaces(v)
		break
	}
	if indent < 0 {
		return nil
	}
	out := make([]Pos, len(valueLines))
	for i := range valueLines {
		out[i] = Pos{File: file, Line: n.Line + 1 + i, Col: indent + 1}
	}
	return out
}

func leadingSpaces(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
