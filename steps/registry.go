// Package steps defines what a step is, the registry of step kinds keyed by
// name, the strict decoder that turns a step's YAML parameters into its Go
// struct, and the step kinds themselves, one file per family.
//
// A kind is registered once, in an init function:
//
//	func init() {
//		steps.Register(steps.Kind{Name: "sleep", New: func() steps.Step { return &Sleep{} }, ...})
//	}
//
// The struct New returns is both the step's parameters (decoded from YAML
// through `yaml:"name"` tags, with the values New sets as defaults) and its
// implementation (Run).
package steps

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/drill-dev/drill/internal/metric"
)

// Step is one configured step of a scenario.
type Step interface {
	// Run performs the step. It must return when ctx is done, and record its
	// metrics through env as it measures them.
	Run(ctx context.Context, env *Env) error
}

// Kind describes a step kind: how to make one, what it records, how to
// document it.
type Kind struct {
	Name    string // e.g. "compose.stop"
	Summary string // one line for listings
	Doc     string // a paragraph for `drill kinds NAME`
	Example string // a YAML step, shown by `drill kinds NAME`
	// New returns a pointer to the kind's parameter struct with defaults set.
	New func() Step
	// Metrics are what every step of this kind can record. A step may
	// declare more from its parameters (see MetricDeclarer).
	Metrics []metric.Spec
	// Timeout is the default limit for one step of this kind.
	Timeout time.Duration
	// Fault is true for kinds that inject a fault into the cluster.
	Fault bool
}

// Validator is implemented by steps that check their parameters beyond
// types at load time. A *FieldError points the message at a parameter.
type Validator interface {
	Validate() error
}

// MetricDeclarer is implemented by steps whose recorded metrics depend on
// their parameters (captures, chosen columns).
type MetricDeclarer interface {
	DeclaredMetrics() []metric.Spec
}

// Builder is implemented by steps that need load-time services after
// decoding: compiling expressions, building nested steps.
type Builder interface {
	Build(b *BuildContext) error
}

// FieldError is a problem with one parameter of a step.
type FieldError struct {
	Field string // the YAML key
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldErrorf returns a *FieldError for the parameter named field.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var registry = map[string]*Kind{}

// Register adds a kind to the registry. It panics on a duplicate or
// incomplete kind: that is a programming error found at start-up.
func Register(k Kind) {
	if k.Name == "" || k.New == nil || k.Summary == "" {
		panic(fmt.Sprintf("steps: kind %q needs a name, a summary and New", k.Name))
	}
	if _, dup := registry[k.Name]; dup {
		panic("steps: kind registered twice: " + k.Name)
	}
	if k.Timeout == 0 {
		k.Timeout = time.Minute
	}
	registry[k.Name] = &k
}

// Lookup returns the kind registered under name.
func Lookup(name string) (*Kind, bool) {
	k, ok := registry[name]
	return k, ok
}

// Kinds returns every registered kind sorted by name.
func Kinds() []*Kind {
	out := make([]*Kind, 0, len(registry))
	for _, k := range registry {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// KindNames returns the registered names, sorted.
func KindNames() []string {
	var out []string
	for _, k := range Kinds() {
		out = append(out, k.Name)
	}
	return out
}

// MetricsOf returns the metrics a configured step can record.
func MetricsOf(k *Kind, s Step) []metric.Spec {
	if d, ok := s.(MetricDeclarer); ok {
		return append(append([]metric.Spec(nil), k.Metrics...), d.DeclaredMetrics()...)
	}
	return k.Metrics
}

// Timeouter is implemented by steps whose default time limit depends on
// their parameters (a sleep of 5 minutes needs more than the kind default).
// A timeout written in the scenario still wins.
type Timeouter interface {
	DefaultTimeout() time.Duration
}
