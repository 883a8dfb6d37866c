package docs

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/steps"
)

type obj = map[string]any

// SchemaID is the schema's $id; editors may also use a local file written
// by `drill schema > drill.schema.json`.
const SchemaID = "https://drill.dev/schema/scenario.json"

// Patterns of the values the loader accepts, kept beside the schema that
// uses them: a Go duration (time.ParseDuration: "0", ".5s", "1m30s"), a
// text holding a ${var} reference, a var or step id.
const (
	durationPattern = `^[+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	templatePattern = `\$\{[A-Za-z_][A-Za-z0-9_]*\}`
	identPattern    = `^[A-Za-z_][A-Za-z0-9_]*$`
)

// JSONSchema returns a JSON Schema (draft-07, what yaml-language-server
// reads best) of the scenario language, generated from the registry: every
// kind's parameters with their doc, default (what Kind.New sets), enum and
// whether they are required. A value the loader reads through the decoder
// may also be a ${var} reference; the step keys the parser reads itself
// (timeout, retry, continue_on_error) may not.
func JSONSchema() ([]byte, error) {
	stepRef := obj{"$ref": "#/definitions/step"}
	schema := obj{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"$id":                  SchemaID,
		"title":                "drill scenario",
		"description":          "A failover drill: steps run in order, then cleanup, then checks.",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"steps"},
		"properties": obj{
			"name":        obj{"type": "string", "description": "the scenario's name in reports (default: the file name)"},
			"description": obj{"type": "string", "description": "what the drill proves, for people and reports"},
			"tags":        obj{"type": "array", "items": obj{"type": "string"}, "description": "labels to select and group scenarios"},
			"requires": obj{
				"type":                 "object",
				"description":          "versions the cluster must run, else the scenario is skipped (reported as such, exit code as passing)",
				"additionalProperties": false,
				"properties": obj{
					"patroni":  obj{"type": "string", "minLength": 1, "description": "a version constraint on Patroni, e.g. \">= 3.2\""},
					"postgres": obj{"type": "string", "minLength": 1, "description": "a version constraint on PostgreSQL, e.g. \">= 16\""},
				},
			},
			"vars": obj{
				"type":                 "object",
				"description":          "named values, overridable with --var name=value; used as ${name}",
				"propertyNames":        obj{"pattern": identPattern},
				"additionalProperties": obj{"anyOf": []any{obj{"type": []string{"string", "number", "boolean", "null"}}, varObject()}},
			},
			"matrix": obj{
				"type":          "object",
				"minProperties": 1,
				"description":   "vars and the values each takes: the scenario runs once per combination (at most 64), reported as its own suite",
				"propertyNames": obj{"pattern": identPattern, "not": obj{"enum": []string{"scenario", "step", "run"}}},
				"additionalProperties": obj{"type": "array", "minItems": 1, "uniqueItems": true,
					"items": obj{"type": []string{"string", "number", "boolean"}}},
			},
			"cluster": obj{"description": "where the cluster runs: the cluster block, or the path of a YAML file holding it", "anyOf": []any{
				structSchema(reflect.ValueOf(cluster.Cluster{})),
				obj{"type": "string", "description": "path of a YAML file holding the cluster block, relative to the scenario"},
			}},
			"steps":   obj{"type": "array", "minItems": 1, "items": stepRef, "description": "the steps, run in order"},
			"cleanup": obj{"type": "array", "items": stepRef, "description": "steps that always run at the end"},
			"checks": obj{"type": "array", "description": "expressions that must be true at the end of the run", "items": obj{"anyOf": []any{
				obj{"type": "string", "minLength": 1, "pattern": `\S`, "description": "an expression over the recorded metrics, e.g. rto_s < 60"},
				obj{"type": "object", "additionalProperties": false, "required": []string{"expr"}, "properties": obj{
					"name":    obj{"type": "string", "description": "the check's name in reports (default: the expression)"},
					"expr":    obj{"type": "string", "pattern": `\S`, "description": "an expression over the recorded metrics, e.g. rto_s < 60"},
					"message": obj{"type": "string", "description": "shown when the check fails"},
				}},
			}}},
		},
		"definitions": obj{
			"step":     stepSchema(),
			"duration": obj{"type": "string", "pattern": durationPattern, "description": "e.g. 500ms, 30s, 1m30s"},
			"template": obj{"type": "string", "pattern": templatePattern, "description": "a ${var} reference"},
		},
	}
	return json.MarshalIndent(schema, "", "  ")
}

func varObject() obj {
	return obj{"type": "object", "additionalProperties": false, "properties": obj{
		"default":     obj{"type": []string{"string", "number", "boolean", "null"}, "description": "the value unless --var sets another"},
		"secret":      obj{"type": "boolean", "description": "mask the value in every output"},
		"description": obj{"type": "string", "description": "what the var is for"},
	}}
}

func commonProperties() obj {
	return obj{
		"kind": obj{"type": "string", "description": "the step kind (drill kinds lists them), or a ${var} naming one (a matrix of faults)",
			"anyOf": []any{obj{"enum": steps.KindNames()}, obj{"pattern": `\$\{`}}},
		"id":                obj{"type": "string", "pattern": identPattern, "description": "for references: ${id.metric} and id.metric in checks"},
		"name":              obj{"type": "string", "description": "the step's name in reports (default: the id or the kind)"},
		"timeout":           obj{"$ref": "#/definitions/duration", "description": "time limit of the step (default: the kind's)"},
		"continue_on_error": obj{"type": "boolean", "description": "go on with the next step when this one fails"},
		"expect_error":      obj{"type": "string", "minLength": 1, "description": "the step must fail with an error matching this regular expression (a negative case); it passes then, and fails if the step succeeds"},
		"retry": obj{"type": "object", "additionalProperties": false, "description": "try a failing step again", "properties": obj{
			"attempts": obj{"type": "integer", "minimum": 1, "maximum": dsl.MaxRetryAttempts, "description": fmt.Sprintf("total tries, from 1 to %d", dsl.MaxRetryAttempts)},
			"interval": obj{"$ref": "#/definitions/duration", "description": "pause between tries"},
		}},
	}
}

func stepSchema() obj {
	var branches []any
	for _, k := range steps.Kinds() {
		then := structSchema(reflect.ValueOf(k.New()).Elem())
		delete(then, "type")
		props := then["properties"].(obj)
		for key, s := range commonProperties() {
			props[key] = s
		}
		branches = append(branches, obj{
			"if":   obj{"properties": obj{"kind": obj{"const": k.Name}}, "required": []string{"kind"}},
			"then": then,
		})
	}
	return obj{"type": "object", "required": []string{"kind"}, "properties": commonProperties(), "allOf": branches}
}

// structSchema describes the fields of the struct v, with v's non-zero
// values as defaults.
func structSchema(v reflect.Value) obj {
	props := obj{}
	var required []string
	for _, f := range dsl.Fields(v.Type()) {
		props[f.Key] = fieldSchema(v.Field(f.Index), f)
		if f.Required {
			required = append(required, f.Key)
		}
	}
	out := obj{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func fieldSchema(v reflect.Value, f dsl.Field) obj {
	s := typeSchema(v.Type(), v, f.Enum)
	if f.Doc != "" {
		s["description"] = f.Doc
	}
	if d, ok := jsonDefault(v); ok {
		s["default"] = d
	}
	return s
}

// typeSchema maps a parameter's Go type to JSON Schema the way the decoder
// reads it (dsl.DecodeContext): every scalar may be a ${var} reference, a
// number may be written as text, a duration is text.
func typeSchema(t reflect.Type, v reflect.Value, enum []string) obj {
	withTemplate := func(s obj) obj {
		return obj{"anyOf": []any{s, obj{"$ref": "#/definitions/template"}}}
	}
	switch {
	case t == durationType:
		return withTemplate(obj{"$ref": "#/definitions/duration"})
	case t.Kind() == reflect.Pointer && t.Elem().Name() == "Node":
		return obj{"$ref": "#/definitions/step"}
	case t.Kind() == reflect.Pointer:
		var elem reflect.Value
		if v.IsValid() && !v.IsNil() {
			elem = v.Elem()
		}
		return typeSchema(t.Elem(), elem, enum)
	case t.Kind() == reflect.String && len(enum) > 0:
		return withTemplate(obj{"type": "string", "enum": enum})
	case t.Kind() == reflect.String:
		return obj{"type": []string{"string", "number", "boolean"}}
	case t.Kind() == reflect.Bool:
		return withTemplate(obj{"type": "boolean"})
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return withTemplate(obj{"anyOf": []any{obj{"type": "integer"}, obj{"type": "string", "pattern": `^[+-]?[0-9][0-9_]*$`}}})
	case t.Kind() == reflect.Float64:
		return withTemplate(obj{"anyOf": []any{obj{"type": "number"}, obj{"type": "string", "pattern": `^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`}}})
	case t.Kind() == reflect.Slice:
		return obj{"type": "array", "items": typeSchema(t.Elem(), reflect.Value{}, enum)}
	case t.Kind() == reflect.Map:
		return obj{"type": "object", "additionalProperties": typeSchema(t.Elem(), reflect.Value{}, nil)}
	case t.Kind() == reflect.Struct:
		if !v.IsValid() {
			v = reflect.New(t).Elem()
		}
		return structSchema(v)
	}
	return obj{}
}

// jsonDefault is a field's default as a JSON value: what New set, when it
// is not the zero value and not a nested mapping.
func jsonDefault(v reflect.Value) (any, bool) {
	if !v.IsValid() || v.IsZero() {
		return nil, false
	}
	if v.Type() == durationType {
		return time.Duration(v.Int()).String(), true
	}
	switch v.Kind() {
	case reflect.Pointer:
		return jsonDefault(v.Elem())
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float32, reflect.Float64:
		return v.Interface(), true
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			d, ok := jsonDefault(v.Index(i))
			if !ok {
				return nil, false
			}
			out[i] = d
		}
		return out, true
	}
	return nil, false
}
