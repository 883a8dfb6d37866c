package dsl

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ANSI styles of a snippet on a colour terminal.
const (
	ansiReset = "\x1b[0m"
	ansiDim   = "\x1b[2m"
	ansiBold  = "\x1b[1m"
	ansiRed   = "\x1b[1;31m"
)

// snippetContext is how many lines a snippet shows before and after the
// line of the error.
const snippetContext = 1

// Snippet renders the lines of src around pos, numbered, with a caret under
// pos's column:
//
//	  3 |   - kind: sleep
//	> 4 |     duration: [1s
//	    |               ^
//	  5 |   - kind: sleep
//
// Columns count characters, as YAML positions do; a tab before the column is
// repeated in the caret line so the caret stays under its character on any
// tab width, and control characters are shown as their Unicode pictures.
// With color, the line numbers are dim and the caret and the error's line
// marker are red (ANSI escapes: only for a terminal). Snippet returns "" when
// pos has no line or the line is not in src.
func Snippet(src []byte, pos Pos, color bool) string {
	lines := bytes.Split(src, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if pos.Line < 1 || pos.Line > len(lines) {
		return ""
	}
	first, last := max(pos.Line-snippetContext, 1), min(pos.Line+snippetContext, len(lines))
	width := len(fmt.Sprint(last))
	style := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for n := first; n <= last; n++ {
		marker := "  "
		if n == pos.Line {
			marker = style(ansiRed, ">") + " "
		}
		text := visible(lines[n-1])
		if n == pos.Line && color {
			text = ansiBold + text + ansiReset
		}
		fmt.Fprintf(&b, "%s%s %s\n", marker, style(ansiDim, fmt.Sprintf("%*d |", width, n)), strings.TrimRight(text, " "))
		if n == pos.Line && pos.Col > 0 {
			fmt.Fprintf(&b, "  %s %s%s\n", style(ansiDim, strings.Repeat(" ", width)+" |"), caretIndent(lines[n-1], pos.Col), style(ansiRed, "^"))
		}
	}
	return b.String()
}

// visible replaces control characters other than tab by their Unicode
// pictures (NUL by ␀), and invalid UTF-8 by U+FFFD, one character each.
func visible(line []byte) string {
	line = bytes.TrimSuffix(line, []byte("\r"))
	var b strings.Builder
	for len(line) > 0 {
		r, size := utf8.DecodeRune(line)
		switch {
		case r < 0x20 && r != '\t':
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune(0x2421)
		default:
			b.WriteRune(r)
		}
		line = line[size:]
	}
	return b.String()
}

// caretIndent is the blank space before column col of line: a tab for
// every tab, a space for every other character (and past the line's end).
func caretIndent(line []byte, col int) string {
	var b strings.Builder
	for i := 1; i < col; i++ {
		r, size := utf8.DecodeRune(line)
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
		line = line[size:]
	}
	return b.String()
}

// Render formats the errors one after another, each followed by the snippet
// of its file around its position and a blank line. src returns a file's
// content; an error whose file it cannot give (nil) has no snippet.
func (l ErrorList) Render(src func(file string) []byte, color bool) string {
	var b strings.Builder
	for _, e := range l {
		if color && e.Pos.File != "" {
			b.WriteString(ansiBold + e.Pos.String() + ":" + ansiReset + " " + e.Msg + "\n")
		} else {
			b.WriteString(e.Error() + "\n")
		}
		if e.Pos.File != "" && e.Pos.Line > 0 {
			if s := Snippet(src(e.Pos.File), e.Pos, color); s != "" {
				b.WriteString(s + "\n")
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
