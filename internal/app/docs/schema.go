package docs

import (
	"encoding/json"
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

// JSONSchema returns a JSON Schema (draft-07, what yaml-language-server
// reads best) of the scenario language, generated from the registry.
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
			"description": obj{"type": "string"},
			"tags":        obj{"type": "array", "items": obj{"type": "string"}},
			"vars": obj{
				"type":                 "object",
				"description":          "named values, overridable with --var name=value; used as ${name}",
				"propertyNames":        obj{"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
				"additionalProperties": obj{"anyOf": []any{obj{"type": []string{"string", "number", "boolean"}}, varObject()}},
			},
			"cluster": obj{"anyOf": []any{
				structSchema(reflect.TypeOf(cluster.Cluster{})),
				obj{"type": "string", "description": "path of a YAML file holding the cluster block, relative to the scenario"},
			}},
			"steps":   obj{"type": "array", "minItems": 1, "items": stepRef},
			"cleanup": obj{"type": "array", "items": stepRef, "description": "steps that always run at the end"},
			"checks": obj{"type": "array", "items": obj{"anyOf": []any{
				obj{"type": "string", "description": "an expression over the recorded metrics, e.g. rto_s < 60"},
				obj{"type": "object", "additionalProperties": false, "required": []string{"expr"}, "properties": obj{
					"name": obj{"type": "string"}, "expr": obj{"type": "string"}, "message": obj{"type": "string"},
				}},
			}}},
		},
		"definitions": obj{
			"step":     stepSchema(),
			"duration": obj{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "description": "e.g. 500ms, 30s, 1m30s"},
			"template": obj{"type": "string", "pattern": `\$\{[A-Za-z_][A-Za-z0-9_]*\}`, "description": "a ${var} reference"},
		},
	}
	return json.MarshalIndent(schema, "", "  ")
}

func varObject() obj {
	return obj{"type": "object", "additionalProperties": false, "properties": obj{
		"default": obj{"type": []string{"string", "number", "boolean"}}, "secret": obj{"type": "boolean"}, "description": obj{"type": "string"},
	}}
}

func commonProperties() obj {
	return obj{
		"kind":              obj{"type": "string", "enum": steps.KindNames()},
		"id":                obj{"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "for references: ${id.metric} and id.metric in checks"},
		"name":              obj{"type": "string"},
		"timeout":           obj{"$ref": "#/definitions/duration"},
		"continue_on_error": obj{"type": "boolean"},
		"retry": obj{"type": "object", "additionalProperties": false, "properties": obj{
			"attempts": obj{"type": "integer", "minimum": 1}, "interval": obj{"$ref": "#/definitions/duration"},
		}},
	}
}

func stepSchema() obj {
	var branches []any
	for _, k := range steps.Kinds() {
		props := commonProperties()
		var required []string
		for _, p := range Params(k) {
			s := typeSchema(p.goType)
			if p.Doc != "" {
				s["description"] = p.Doc
			}
			if len(p.Enum) > 0 {
				s["enum"] = p.Enum
			}
			props[p.Key] = s
			if p.Required {
				required = append(required, p.Key)
			}
		}
		then := obj{"properties": props, "additionalProperties": false}
		if len(required) > 0 {
			then["required"] = required
		}
		branches = append(branches, obj{
			"if":   obj{"properties": obj{"kind": obj{"const": k.Name}}, "required": []string{"kind"}},
			"then": then,
		})
	}
	return obj{"type": "object", "required": []string{"kind"}, "properties": commonProperties(), "allOf": branches}
}

func structSchema(t reflect.Type) obj {
	props := obj{}
	var required []string
	for _, f := range dsl.Fields(t) {
		s := typeSchema(t.Field(f.Index).Type)
		if f.Doc != "" {
			s["description"] = f.Doc
		}
		if len(f.Enum) > 0 {
			s["enum"] = f.Enum
		}
		props[f.Key] = s
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

// typeSchema maps a parameter's Go type to JSON Schema. Non-text scalars
// also accept a ${var} reference.
func typeSchema(t reflect.Type) obj {
	withTemplate := func(s obj) obj {
		return obj{"anyOf": []any{s, obj{"$ref": "#/definitions/template"}}}
	}
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return obj{"$ref": "#/definitions/duration"}
	case t.Kind() == reflect.Pointer && t.Elem().Name() == "Node":
		return obj{"$ref": "#/definitions/step"}
	case t.Kind() == reflect.Pointer:
		return typeSchema(t.Elem())
	case t.Kind() == reflect.String:
		return obj{"type": "string"}
	case t.Kind() == reflect.Bool:
		return withTemplate(obj{"type": "boolean"})
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return withTemplate(obj{"type": "integer"})
	case t.Kind() == reflect.Float64:
		return withTemplate(obj{"type": "number"})
	case t.Kind() == reflect.Slice:
		return obj{"type": "array", "items": typeSchema(t.Elem())}
	case t.Kind() == reflect.Map:
		return obj{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	case t.Kind() == reflect.Struct:
		return structSchema(t)
	}
	return obj{}
}
