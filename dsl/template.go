package dsl

import (
	"fmt"
	"regexp"
	"strings"
)

// A text parameter may refer to a var, ${name}, or to a value recorded by an
// earlier step, ${step_id.metric}. "$${" stands for a literal "${".

// Ref is one ${...} reference inside a text.
type Ref struct {
	Step   string // the step id; "" for a var
	Name   string // the var or metric name
	Offset int    // byte offset of the "$" in the text
}

func (r Ref) String() string {
	if r.Step == "" {
		return "${" + r.Name + "}"
	}
	return "${" + r.Step + "." + r.Name + "}"
}

// Part is a piece of a parsed template: literal text, or a reference.
type Part struct {
	Text string
	Ref  *Ref
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// IsIdent reports whether s is a valid identifier for vars, step ids and
// metrics: letters, digits and underscores, not starting with a digit.
func IsIdent(s string) bool { return identRe.MatchString(s) }

// ParseTemplate splits s into literal text and references. The error names
// the byte offset of a malformed reference.
func ParseTemplate(s string) ([]Part, error) {
	var parts []Part
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, &TemplateError{Offset: i, Msg: `unterminated "${": close it with "}" or write "$${" for a literal "${"`}
			}
			inner := strings.TrimSpace(s[i+2 : i+end])
			ref := Ref{Offset: i}
			if step, name, ok := strings.Cut(inner, "."); ok {
				ref.Step, ref.Name = step, name
			} else {
				ref.Name = inner
			}
			if (ref.Step != "" || strings.Contains(inner, ".")) && !IsIdent(ref.Step) || !IsIdent(ref.Name) {
				return nil, &TemplateError{Offset: i, Msg: fmt.Sprintf("bad reference %q: write ${var} or ${step_id.metric}", s[i:i+end+1])}
			}
			if lit.Len() > 0 {
				parts = append(parts, Part{Text: lit.String()})
				lit.Reset()
			}
			parts = append(parts, Part{Ref: &ref})
			i += end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, Part{Text: lit.String()})
	}
	return parts, nil
}

// TemplateError is a malformed reference at a byte offset in a text.
type TemplateError struct {
	Offset int
	Msg    string
}

func (e *TemplateError) Error() string { return e.Msg }

// HasRefs reports whether s contains a ${...} reference (not counting "$${").
func HasRefs(s string) bool {
	return strings.Contains(strings.ReplaceAll(s, "$${", ""), "${")
}

// Expand replaces every reference in parts with lookup's answer. lookup
// returns false for a reference it cannot resolve; Expand then fails naming it.
func Expand(parts []Part, lookup func(Ref) (string, bool)) (string, error) {
	var b strings.Builder
	for _, p := range parts {
		if p.Ref == nil {
			b.WriteString(p.Text)
			continue
		}
		v, ok := lookup(*p.Ref)
		if !ok {
			return "", fmt.Errorf("%s has no value", p.Ref)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
