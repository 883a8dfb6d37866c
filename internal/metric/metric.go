// Package metric defines the typed values that steps record (rto_s, lag_mb,
// leader...) and the store a run keeps them in. A metric that was not
// recorded is absent from the store: there is no zero default.
package metric

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Type is the type of a metric's value.
type Type int

// The metric types and the Go type of their values.
const (
	Number     Type = iota // float64
	String                 // string
	Bool                   // bool
	Time                   // time.Time
	StringList             // []string
	StringMap              // map[string]string
	Any                    // any JSON-like value (e.g. an HTTP response)
)

var typeNames = map[Type]string{Number: "number", String: "string", Bool: "bool", Time: "time", StringList: "list of strings", StringMap: "map of strings", Any: "any"}

func (t Type) String() string { return typeNames[t] }

// Spec declares a metric a step kind can record.
type Spec struct {
	Name string `json:"name"`
	Type Type   `json:"-"`
	// Doc says what the value means and its unit where the name does not.
	Doc string `json:"doc"`
	// Resolution says how precise the value is, e.g. "poll interval (100 ms)".
	Resolution string `json:"resolution,omitempty"`
}

// Sample is one recorded value.
type Sample struct {
	Name  string    `json:"name"`
	Step  string    `json:"step"` // the id (or name) of the step that recorded it
	Type  Type      `json:"-"`
	Value any       `json:"value"`
	At    time.Time `json:"at"`
}

// Store holds what a run's steps recorded. The latest value of a name wins
// for the bare name; every value stays available by step id. Safe for
// concurrent use (background steps record while others run).
type Store struct {
	mu     sync.Mutex
	latest map[string]Sample
	byStep map[string]map[string]Sample
	all    []Sample
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{latest: map[string]Sample{}, byStep: map[string]map[string]Sample{}}
}

// Record stores a value; it fails when the value's Go type does not match t.
func (s *Store) Record(step, name string, t Type, v any, at time.Time) error {
	v, err := Normalize(t, v)
	if err != nil {
		return fmt.Errorf("metric %s: %w", name, err)
	}
	sample := Sample{Name: name, Step: step, Type: t, Value: v, At: at}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest[name] = sample
	if step != "" {
		if s.byStep[step] == nil {
			s.byStep[step] = map[string]Sample{}
		}
		s.byStep[step][name] = sample
	}
	s.all = append(s.all, sample)
	return nil
}

// Get returns the latest value recorded under name.
func (s *Store) Get(name string) (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.latest[name]
	return v, ok
}

// GetStep returns the value a given step recorded under name.
func (s *Store) GetStep(step, name string) (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.byStep[step][name]
	return v, ok
}

// Latest returns the latest value of every name, sorted by name.
func (s *Store) Latest() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, 0, len(s.latest))
	for _, v := range s.latest {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// All returns every recorded sample in recording order.
func (s *Store) All() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.all...)
}

// Env returns the values as an expression environment: each name's latest
// value, and each step id mapped to its own values.
func (s *Store) Env() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	env := make(map[string]any, len(s.latest)+len(s.byStep))
	for k, v := range s.latest {
		env[k] = v.Value
	}
	for step, vals := range s.byStep {
		m := make(map[string]any, len(vals))
		for k, v := range vals {
			m[k] = v.Value
		}
		env[step] = m
	}
	return env
}

// Normalize converts v to the Go type of t (any integer or float becomes a
// float64 for Number) or fails.
func Normalize(t Type, v any) (any, error) {
	switch t {
	case Number:
		switch n := v.(type) {
		case float64:
			return n, nil
		case float32:
			return float64(n), nil
		case int:
			return float64(n), nil
		case int64:
			return float64(n), nil
		case int32:
			return float64(n), nil
		case uint64:
			return float64(n), nil
		case time.Duration:
			return n.Seconds(), nil
		}
	case String:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Time:
		if tm, ok := v.(time.Time); ok {
			return tm, nil
		}
	case StringList:
		if l, ok := v.([]string); ok {
			return l, nil
		}
	case StringMap:
		if m, ok := v.(map[string]string); ok {
			return m, nil
		}
	case Any:
		return v, nil
	}
	return nil, fmt.Errorf("value %v (%T) is not a %s", v, v, t)
}

// Format renders a value for people: numbers without noise, times in UTC
// with milliseconds, lists and maps compactly.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case float64:
		return FormatNumber(x)
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case string:
		return strconv.Quote(x)
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case map[string]string:
		return formatMap(x, func(v string) string { return v })
	case map[string]any: // e.g. by_member: member to its row
		return formatMap(x, Format)
	}
	return fmt.Sprint(v)
}

// FormatNumber prints integers without a fraction and others with three
// decimals, or three significant digits when smaller than 0.001.
func FormatNumber(f float64) string {
	switch {
	case f == float64(int64(f)) && f < 1e15 && f > -1e15:
		return strconv.FormatInt(int64(f), 10)
	case math.Abs(f) < 0.001:
		return strconv.FormatFloat(f, 'g', 3, 64)
	}
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

// formatMap is {k1: v1, k2: v2} with the keys sorted and each value written
// by format.
func formatMap[V any](m map[string]V, format func(V) string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+": "+format(m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
