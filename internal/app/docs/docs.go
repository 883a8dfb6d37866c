// Package docs describes the step kinds from the registry, for people
// (`drill kinds`, the README's step catalogue) and for editors (`drill
// schema`, a JSON Schema of the scenario language). Both are generated from
// the same registry, so they cannot drift from what drill accepts.
package docs

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

// Param describes one parameter of a kind.
type Param struct {
	Key      string
	Type     string
	Default  string // "" when there is none
	Required bool
	Doc      string
	Enum     []string
	goType   reflect.Type
}

// Params lists a kind's parameters with their types and defaults.
func Params(k *steps.Kind) []Param {
	v := reflect.ValueOf(k.New()).Elem()
	return paramsOf(v)
}

func paramsOf(v reflect.Value) []Param {
	var out []Param
	for _, f := range dsl.Fields(v.Type()) {
		fv := v.Field(f.Index)
		out = append(out, Param{
			Key: f.Key, Type: typeName(fv.Type()), Default: defaultOf(fv), Required: f.Required,
			Doc: f.Doc, Enum: f.Enum, goType: fv.Type(),
		})
	}
	return out
}

var durationType = reflect.TypeOf(time.Duration(0))

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct && t.Elem().Name() == "Node" {
			return "step"
		}
		return typeName(t.Elem())
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "int"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + typeName(t.Elem())
	case t.Kind() == reflect.Struct:
		return "mapping"
	}
	return "any"
}

func defaultOf(v reflect.Value) string {
	if v.IsZero() {
		return ""
	}
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		return defaultOf(v.Elem())
	case reflect.Slice, reflect.Map, reflect.Struct:
		return fmt.Sprint(v.Interface())
	}
	return fmt.Sprint(v.Interface())
}

// WriteKindList prints one line per kind.
func WriteKindList(w io.Writer) {
	width := 0
	for _, k := range steps.Kinds() {
		width = max(width, len(k.Name))
	}
	for _, k := range steps.Kinds() {
		fmt.Fprintf(w, "%-*s  %s\n", width, k.Name, k.Summary)
	}
	fmt.Fprintln(w, "\nRun 'drill kinds NAME' for a kind's parameters, metrics and an example.")
	fmt.Fprintln(w, "\nIn checks, besides expr's built-in functions:")
	for _, h := range assertions.HelperDocs {
		fmt.Fprintf(w, "  %s\n", h)
	}
}

// WriteKind explains one kind: parameters, defaults, metrics with their
// resolution, the default time limit and an example.
func WriteKind(w io.Writer, k *steps.Kind) {
	fmt.Fprintf(w, "%s: %s\n\n", k.Name, k.Summary)
	if k.Doc != "" {
		fmt.Fprintf(w, "%s\n\n", wrap(k.Doc, 78))
	}
	fmt.Fprintf(w, "Default timeout: %s", k.Timeout)
	if k.Fault {
		fmt.Fprint(w, " (injects a fault: recorded in the ledger and undone when the run ends)")
	}
	fmt.Fprint(w, "\n\nParameters:\n")
	params := Params(k)
	if len(params) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, p := range params {
		fmt.Fprintf(w, "  %-18s %s", p.Key, p.Type)
		switch {
		case p.Required:
			fmt.Fprint(w, ", required")
		case p.Default != "":
			fmt.Fprintf(w, ", default %s", p.Default)
		}
		if len(p.Enum) > 0 {
			fmt.Fprintf(w, ", one of %s", strings.Join(p.Enum, "|"))
		}
		fmt.Fprintln(w)
		if p.Doc != "" {
			fmt.Fprintf(w, "  %-18s %s\n", "", p.Doc)
		}
	}
	fmt.Fprintln(w, "  Every step also takes: id, name, timeout, continue_on_error, retry {attempts, interval},")
	fmt.Fprintln(w, "  expect_error (a regular expression: the step must fail with a matching error, e.g. a refused switchover).")
	fmt.Fprint(w, "\nMetrics:\n")
	if len(k.Metrics) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, m := range k.Metrics {
		fmt.Fprintf(w, "  %-22s %-8s %s", m.Name, m.Type, m.Doc)
		if m.Resolution != "" {
			fmt.Fprintf(w, " [resolution: %s]", m.Resolution)
		}
		fmt.Fprintln(w)
	}
	if k.Example != "" {
		fmt.Fprint(w, "\nExample:\n")
		for _, line := range strings.Split(k.Example, "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// WriteMarkdown writes the step catalogue as Markdown, for the README.
func WriteMarkdown(w io.Writer) {
	for _, k := range steps.Kinds() {
		fmt.Fprintf(w, "### `%s`\n\n%s.", k.Name, capitalize(k.Summary))
		if k.Doc != "" {
			fmt.Fprintf(w, " %s", k.Doc)
		}
		fmt.Fprintf(w, " Default timeout %s.", k.Timeout)
		if len(k.Aliases) > 0 {
			fmt.Fprintf(w, " Also accepted as `%s`.", strings.Join(k.Aliases, "`, `"))
		}
		fmt.Fprint(w, "\n\n")
		if params := Params(k); len(params) > 0 {
			fmt.Fprint(w, "| parameter | type | default | meaning |\n|---|---|---|---|\n")
			for _, p := range params {
				def := p.Default
				if p.Required {
					def = "required"
				}
				doc := p.Doc
				if len(p.Enum) > 0 {
					doc += " (" + strings.Join(p.Enum, ", ") + ")"
				}
				fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", p.Key, p.Type, escapeCell(def), escapeCell(doc))
			}
			fmt.Fprintln(w)
		}
		if len(k.Metrics) > 0 {
			fmt.Fprint(w, "Records: ")
			parts := make([]string, len(k.Metrics))
			for i, m := range k.Metrics {
				parts[i] = fmt.Sprintf("`%s` (%s)", m.Name, metricDoc(m))
			}
			fmt.Fprintf(w, "%s.\n\n", strings.Join(parts, ", "))
		}
	}
}

func metricDoc(m metric.Spec) string {
	s := m.Type.String() + ": " + m.Doc
	if m.Resolution != "" {
		s += "; resolution " + m.Resolution
	}
	return s
}

func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func wrap(s string, width int) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}
