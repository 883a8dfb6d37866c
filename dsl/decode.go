package dsl

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// DecodeContext decodes YAML nodes strictly into Go values: an unknown key,
// a wrong type, a missing required key, a bad duration or an undefined
// reference is an error at the offending node's position. Every problem is
// collected; decoding goes on to find the next one.
//
// Text values may hold ${var} and ${step_id.metric} references. Vars are
// replaced at load time. A step reference is checked at load time (CheckRef)
// and left in place; at run time the same node is decoded again with Resolve
// set, which replaces it. Only text parameters may refer to steps.
type DecodeContext struct {
	File string
	// Where names what is being decoded, for messages: "compose.stop".
	Where string
	// Vars holds the value of every declared var.
	Vars map[string]any
	// CheckRef validates a ${step.metric} reference at load time.
	CheckRef func(ref Ref) error
	// Resolve returns a ${step.metric} value at run time; nil at load time.
	Resolve func(ref Ref) (string, bool)
	// SiblingKeys are keys accepted beside the struct's own at its top level
	// (a step's common keys, StepCommonKeys): a misspelt key is compared with
	// them first, so "timout" suggests "timeout".
	SiblingKeys []string

	// RuntimeRefs is set when a decoded text refers to a step's value: the
	// step must be decoded again at run time.
	RuntimeRefs bool
	// Errs collects every problem found.
	Errs ErrorList
	// FieldNodes maps each top-level key that was present to its value.
	FieldNodes map[string]*yaml.Node
}

func (dc *DecodeContext) errorf(n *yaml.Node, format string, args ...any) {
	dc.Errs = append(dc.Errs, Errorf(At(dc.File, n), format, args...))
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	nodePtrType  = reflect.TypeOf((*yaml.Node)(nil))
)

// DecodeStruct decodes a mapping node into the struct target points to,
// keeping the values already in it as defaults.
func (dc *DecodeContext) DecodeStruct(n *yaml.Node, target any) {
	v := reflect.ValueOf(target)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("dsl: DecodeStruct needs a pointer to a struct, got %T", target))
	}
	if dc.FieldNodes == nil {
		dc.FieldNodes = map[string]*yaml.Node{}
	}
	dc.decodeStruct(n, v.Elem(), true)
}

// Field describes one parameter of a struct, from its tags.
type Field struct {
	Key      string
	Index    int
	Required bool
	Doc      string
	Enum     []string
}

// fieldCache holds Fields' answer for each struct type: the decoder asks
// for every step it decodes.
var fieldCache sync.Map // reflect.Type -> []Field

// Fields lists the parameters of a struct type in declaration order. The
// slice is shared: do not modify it.
func Fields(t reflect.Type) []Field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]Field)
	}
	f, _ := fieldCache.LoadOrStore(t, fieldsOf(t))
	return f.([]Field)
}

func fieldsOf(t reflect.Type) []Field {
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		field := Field{Key: key, Index: i, Required: f.Tag.Get("required") == "true", Doc: f.Tag.Get("doc")}
		if e := f.Tag.Get("enum"); e != "" {
			field.Enum = strings.Split(e, "|")
		}
		out = append(out, field)
	}
	return out
}

func (dc *DecodeContext) decodeStruct(n *yaml.Node, v reflect.Value, top bool) {
	if n.Kind != yaml.MappingNode {
		dc.errorf(n, "expected a mapping of parameters, found %s", Describe(n))
		return
	}
	fields := Fields(v.Type())
	byKey := map[string]Field{}
	var keys []string
	for _, f := range fields {
		byKey[f.Key] = f
		keys = append(keys, f.Key)
	}
	seen := map[string]int{}
	suggested := map[string]bool{} // keys offered as "did you mean"
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, ok := byKey[k.Value]
		if !ok {
			candidates := keys
			if top && len(dc.SiblingKeys) > 0 {
				candidates = append(append([]string(nil), dc.SiblingKeys...), keys...)
			}
			s := Suggest(k.Value, candidates)
			if _, own := byKey[s]; own {
				suggested[s] = true
			}
			hint := DidYouMean(k.Value, candidates)
			if hint == "" && len(keys) > 0 {
				hint = "; known keys: " + strings.Join(keys, ", ")
			}
			dc.errorf(k, "unknown key %q for %s%s", k.Value, dc.Where, hint)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			dc.errorf(k, "duplicate key %q (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		if top {
			dc.FieldNodes[k.Value] = val
		}
		dc.decodeValue(val, v.Field(f.Index), k.Value, f.Enum)
	}
	for _, f := range fields {
		// A misspelt required key is reported once, as the unknown key.
		if _, ok := seen[f.Key]; f.Required && !ok && !suggested[f.Key] {
			msg := fmt.Sprintf("missing required key %q for %s", f.Key, dc.Where)
			if f.Doc != "" {
				msg += " (" + f.Doc + ")"
			}
			dc.errorf(n, "%s", msg)
		}
	}
}

func (dc *DecodeContext) decodeValue(n *yaml.Node, v reflect.Value, key string, enum []string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == nodePtrType {
		v.Set(reflect.ValueOf(n))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.ShortTag() == "!!null" {
			return
		}
		elem := reflect.New(v.Type().Elem())
		dc.decodeValue(n, elem.Elem(), key, enum)
		v.Set(elem)
	case reflect.Struct:
		dc.decodeStruct(n, v, false)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			dc.errorf(n, "%s must be a list, found %s", key, Describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			dc.decodeValue(item, s.Index(i), key, enum)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			dc.errorf(n, "%s must be a mapping, found %s", key, Describe(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if seen[k.Value] {
				dc.errorf(k, "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			elem := reflect.New(v.Type().Elem()).Elem()
			dc.decodeValue(n.Content[i+1], elem, key+"."+k.Value, nil)
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.Interface:
		if x, ok := dc.decodeAny(n, key); ok && x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		dc.decodeScalar(n, v, key, enum)
	}
}

// decodeAny decodes a free-form value (a request body, a configuration
// patch) into strings, numbers, booleans, lists and mappings, expanding the
// references of every scalar in it as a text parameter's: a value that is
// exactly one ${var} keeps the var's type.
func (dc *DecodeContext) decodeAny(n *yaml.Node, key string) (any, bool) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		text, whole, deferred, ok := dc.expand(n, true)
		switch {
		case !ok:
			return nil, false
		case whole != nil:
			return whole, true
		case deferred || text != n.Value:
			return text, true
		}
		return ScalarValue(n), true
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for _, item := range n.Content {
			x, itemOK := dc.decodeAny(item, key)
			out, ok = append(out, x), ok && itemOK
		}
		return out, ok
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		ok := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if _, dup := out[k.Value]; dup {
				dc.errorf(k, "duplicate key %q", k.Value)
				ok = false
				continue
			}
			x, valOK := dc.decodeAny(n.Content[i+1], key+"."+k.Value)
			out[k.Value], ok = x, ok && valOK
		}
		return out, ok
	}
	var x any
	if err := n.Decode(&x); err != nil {
		dc.errorf(n, "%s: %v", key, err)
		return nil, false
	}
	return x, true
}

// decodeScalar decodes text, numbers, booleans and durations, replacing
// references first.
func (dc *DecodeContext) decodeScalar(n *yaml.Node, v reflect.Value, key string, enum []string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		dc.errorf(n, "%s must be %s, found %s", key, typeWord(v.Type()), Describe(n))
		return
	}
	text, whole, deferred, ok := dc.expand(n, v.Kind() == reflect.String)
	if !ok {
		return
	}
	if deferred {
		v.SetString(text)
		return
	}
	if len(enum) > 0 && !contains(enum, text) {
		dc.errorf(n, "%s must be one of %s, found %q%s", key, OneOf(enum), text, DidYouMean(text, enum))
		return
	}
	switch {
	case v.Type() == durationType:
		d, err := ParseDuration(&yaml.Node{Kind: yaml.ScalarNode, Value: text})
		if err != nil {
			dc.errorf(n, "%s: %v", key, err)
			return
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(text)
	case v.Kind() == reflect.Bool:
		if b, isBool := whole.(bool); isBool {
			v.SetBool(b)
			return
		}
		b, err := strconv.ParseBool(text)
		if err != nil || (whole == nil && n.ShortTag() != "!!bool") {
			dc.errorf(n, "%s must be true or false, found %q", key, text)
			return
		}
		v.SetBool(b)
	case v.CanInt():
		i, err := strconv.ParseInt(strings.ReplaceAll(text, "_", ""), 10, 64)
		if err != nil || v.OverflowInt(i) {
			dc.errorf(n, "%s must be a whole number, found %q", key, text)
			return
		}
		v.SetInt(i)
	case v.CanFloat():
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			dc.errorf(n, "%s must be a number, found %q", key, text)
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("steps: unsupported parameter type %s for %s", v.Type(), key))
	}
}

// expand replaces the references in a scalar. whole is the var's typed
// value when the scalar is exactly one ${var}; deferred is true when a step
// reference was left for run time (only for text fields).
func (dc *DecodeContext) expand(n *yaml.Node, isText bool) (text string, whole any, deferred, ok bool) {
	if !HasRefs(n.Value) && !strings.Contains(n.Value, "$${") {
		return n.Value, nil, false, true
	}
	parts, err := ParseTemplate(n.Value)
	if err != nil {
		dc.errs(n, err.Error())
		return "", nil, false, false
	}
	for _, p := range parts {
		if p.Ref == nil {
			continue
		}
		ref := *p.Ref
		if ref.Step == "" {
			if _, defined := dc.Vars[ref.Name]; !defined {
				dc.errs(n, fmt.Sprintf("undefined var %q: declare it under vars: or pass --var %s=...%s", ref.Name, ref.Name, DidYouMean(ref.Name, mapKeys(dc.Vars))))
				return "", nil, false, false
			}
			continue
		}
		if dc.Resolve != nil {
			continue
		}
		if !isText {
			dc.errs(n, fmt.Sprintf("%s is recorded at run time: only text parameters can refer to it", ref))
			return "", nil, false, false
		}
		if dc.CheckRef != nil {
			if err := dc.CheckRef(ref); err != nil {
				dc.errs(n, err.Error())
				return "", nil, false, false
			}
		}
		deferred = true
	}
	if deferred {
		dc.RuntimeRefs = true
		return n.Value, nil, true, true
	}
	if len(parts) == 1 && parts[0].Ref != nil && parts[0].Ref.Step == "" {
		whole = dc.Vars[parts[0].Ref.Name]
	}
	text, err = Expand(parts, func(r Ref) (string, bool) {
		if r.Step == "" {
			return VarString(dc.Vars[r.Name]), true
		}
		return dc.Resolve(r)
	})
	if err != nil {
		dc.errs(n, err.Error())
		return "", nil, false, false
	}
	return text, whole, false, true
}

func (dc *DecodeContext) errs(n *yaml.Node, msg string) {
	dc.Errs = append(dc.Errs, Errorf(At(dc.File, n), "%s", msg))
}

// VarString renders a var's value for substitution into text.
func VarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func typeWord(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as 30s"
	case t.Kind() == reflect.String:
		return "text"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		return "a number"
	}
	return "a value"
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
