package dsl

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

var yamlLineRe = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// SyntaxError turns an error of the YAML parser on data, the content of
// file, into an *Error at the offending line and column (see
// yamlSyntaxError).
func SyntaxError(file string, data []byte, err error) *Error {
	return yamlSyntaxError(file, data, err)
}

// yamlSyntaxError turns an error of the YAML parser into an *Error at the
// offending line and column. The parser names the line where the broken
// construct began (zero-based for some errors), or no line at all; the
// offending line is found again by parsing ever longer prefixes of data
// until the same problem appears, and the column from what the problem is
// about: a control character, a tab, an unclosed bracket.
func yamlSyntaxError(file string, data []byte, err error) *Error {
	line, msg := 1, strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		msg = m[2]
		if m[1] != "" {
			line, _ = strconv.Atoi(m[1])
		}
	}
	if l, c, ok := badCharacter(data); ok && isReaderError(msg) {
		return Errorf(Pos{File: file, Line: l, Col: c}, "YAML syntax: %s", msg)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if l := problemLine(lines, msg, line-1); l > 0 {
		line = l
	}
	if line > len(lines) {
		line = len(lines)
	}
	text := lines[max(line, 1)-1]
	col := firstColumn(text)
	switch {
	case strings.Contains(msg, "',' or ']'") || strings.Contains(msg, "',' or '}'") || strings.Contains(msg, "node content"):
		if l, c, open, ok := unclosedBracket(lines[:line]); ok {
			return Errorf(Pos{File: file, Line: l, Col: c}, "YAML syntax: %s: this %c is never closed", msg, open)
		}
	case strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token"):
		if i := bytes.IndexByte(text, '\t'); i >= 0 {
			return Errorf(Pos{File: file, Line: line, Col: i + 1}, "YAML syntax: %s: indent with spaces, not tabs", msg)
		}
	}
	return Errorf(Pos{File: file, Line: line, Col: col}, "YAML syntax: %s", msg)
}

// problemLine returns the first line n, from line from on, such that
// lines 1..n alone fail to parse with msg, or 0 when none does. The problem
// is never before the line where its construct began, which the parser
// names (less one: it counts some from 0). A longer prefix holds the same
// first problem, so the line is found by bisection: a few parses of the
// file, not one per line.
func problemLine(lines [][]byte, msg string, from int) int {
	from = max(from, 1)
	if from > len(lines) {
		return 0
	}
	fails := func(n int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:n], nil)))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if err == nil {
				continue
			}
			m := yamlLineRe.FindStringSubmatch(err.Error())
			return m != nil && m[2] == msg
		}
	}
	lo, hi := from, len(lines)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		if mid := (lo + hi) / 2; fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// isReaderError says whether msg is a complaint of the YAML reader about
// the bytes themselves (those errors carry no line).
func isReaderError(msg string) bool {
	return strings.Contains(msg, "control characters") || strings.Contains(msg, "UTF-8") || strings.Contains(msg, "UTF-16") || strings.Contains(msg, "Unicode character")
}

// badCharacter finds the first byte the YAML reader refuses: invalid UTF-8,
// or a control character other than tab, line feed and carriage return.
func badCharacter(data []byte) (line, col int, ok bool) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size <= 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r >= 0x7f && r <= 0x9f && r != 0x85,
			r == 0xfffe || r == 0xffff:
			return line, col, true
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		data = data[size:]
	}
	return 0, 0, false
}

// unclosedBracket finds the last flow bracket ([ or {) opened in lines and
// not closed there, outside quotes and comments.
func unclosedBracket(lines [][]byte) (line, col int, open byte, ok bool) {
	type opener struct {
		line, col int
		c         byte
	}
	var stack []opener
	for i, l := range lines {
		var quote byte
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				if j == 0 || bytes.IndexByte([]byte(" \t[{,:"), l[j-1]) >= 0 {
					quote = c
				}
			case c == '#' && (j == 0 || l[j-1] == ' ' || l[j-1] == '\t'):
				j = len(l)
			case c == '[' || c == '{':
				stack = append(stack, opener{i + 1, j + 1, c})
			case (c == ']' || c == '}') && len(stack) > 0:
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) == 0 {
		return 0, 0, 0, false
	}
	o := stack[len(stack)-1]
	return o.line, o.col, o.c, true
}

// firstColumn is the column of the first non-blank character of a line.
func firstColumn(l []byte) int {
	return len(l) - len(bytes.TrimLeft(l, " ")) + 1
}
