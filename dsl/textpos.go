package dsl

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

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
	// comment is what follows an unquoted one-line text on its line after
	// " #": a YAML comment that may have cut the text short.
	comment string
	text    string
}

// CommentHint says, when an unquoted text is followed on its line by a
// YAML comment (" #..."), that the comment is not part of the text and how
// to quote the whole: for an error about a text that may have been cut
// short. It is "" otherwise.
func (t TextPos) CommentHint() string {
	if t.comment == "" {
		return ""
	}
	whole := t.text + " " + t.comment
	return fmt.Sprintf(" (the text after \" #\" on this line is a YAML comment, not part of it: to keep it, quote the whole: '%s')", strings.ReplaceAll(whole, "'", "''"))
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
// scalar without escapes, and every line of a literal block scalar (|); a
// folded block scalar (>) is located by its first line.
func ScalarText(file string, src []byte, n *yaml.Node) TextPos {
	t := TextPos{Start: At(file, n)}
	oneLine := !strings.Contains(n.Value, "\n")
	switch n.Style {
	case 0, yaml.TaggedStyle:
		if oneLine {
			t.lines = []Pos{t.Start}
			t.comment, t.text = trailingComment(src, n), n.Value
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
	case yaml.FoldedStyle:
		// Lines are joined: only where the text starts is known.
		if lines := literalLines(file, src, n); len(lines) > 0 {
			t.Start = lines[0]
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
	valueLines := strings.Split(strings.TrimSuffix(n.Value, "\n"), "\n")
	indent := -1
	for i, v := range valueLines {
		if strings.TrimSpace(v) == "" {
			continue
		}
		at := lineOf(src, n.Line+1+i) // the file line holding value line i+1
		if at == nil {
			return nil
		}
		indent = leadingSpaces(string(at)) - leadingSpaces(v)
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

// trailingComment returns the comment after a one-line plain scalar on its
// line ("#" preceded by a blank), or "".
func trailingComment(src []byte, n *yaml.Node) string {
	line := lineOf(src, n.Line)
	// Skip the text itself: Column counts characters, not bytes.
	rest := line
	for i := 1; i < n.Column+utf8.RuneCountInString(n.Value) && len(rest) > 0; i++ {
		_, size := utf8.DecodeRune(rest)
		rest = rest[size:]
	}
	i := bytes.IndexByte(rest, '#')
	if i <= 0 || len(bytes.TrimSpace(rest[:i])) != 0 {
		return ""
	}
	return string(bytes.TrimSpace(rest[i:]))
}

// lineOf returns line n (from 1) of src without its line break, or nil.
func lineOf(src []byte, n int) []byte {
	for ; n > 1; n-- {
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			return nil
		}
		src = src[i+1:]
	}
	if i := bytes.IndexByte(src, '\n'); i >= 0 {
		src = src[:i]
	}
	return src
}
