// Package steps is the step framework: what a step is, the registry of step
// kinds keyed by name, how a step is built from its YAML at load time, and
// the Env a running step sees (metrics, log, the ledger, and typed ports to
// the platform, Patroni and PostgreSQL). The kinds themselves live in the
// packages beside it, one per family (steps/member, steps/network,
// steps/patroni, ...), each importing only this package and the clients it
// needs; steps/all imports every family.
//
// A kind is registered once, in an init function of its family:
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
	"github.com/drill-dev/drill/internal/platform"
)

// Step is one configured step of a scenario. Its lifecycle:
//
//  1. New: Kind.New returns the parameter struct with its defaults set.
//  2. Decode: the YAML parameters are decoded into it strictly (dsl.DecodeContext):
//     an unknown key, a wrong type or an undefined reference is an error at
//     its line and column. Vars are expanded; a ${step.metric} reference is
//     checked and left for run time.
//  3. Validate (Validator): checks beyond types; a *FieldError points at the
//     parameter.
//  4. Build (Builder): load-time services, such as compiling an expression
//     against the metrics recorded before this step, or nested steps.
//  5. Metrics: Kind.Metrics plus DeclaredMetrics (MetricDeclarer) are what
//     the step may record and what checks after it may name.
//  6. Timeout: the scenario's timeout, else DefaultTimeout (Timeouter), else
//     Kind.Timeout. The platform is checked against Kind.Needs.
//  7. Run: with ctx bounded by the timeout and cancelled by Ctrl-C; a step
//     with runtime references is decoded again first (Built.Resolve).
//  8. Undo: every fault the step injected through Env.Faults is undone by
//     its registered undo when the scenario ends, unless kept.
//
// Steps 1 to 6 are `drill validate`: nothing outside drill is touched.
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
	// Needs are the platform capabilities the kind uses: a scenario whose
	// platform lacks one is invalid at load time.
	Needs []platform.Capability
	// Aliases are other names the kind answers to (names it had before).
	Aliases []string
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
	if k.Timeout == 0 {
		k.Timeout = time.Minute
	}
	for _, name := range append([]string{k.Name}, k.Aliases...) {
		if _, dup := registry[name]; dup {
			panic("steps: kind registered twice: " + name)
		}
		registry[name] = &k
	}
}

// Lookup returns the kind registered under name or one of its aliases.
func Lookup(name string) (*Kind, bool) {
	k, ok := registry[name]
	return k, ok
}

// Kinds returns every registered kind, once, sorted by name.
func Kinds() []*Kind {
	out := make([]*Kind, 0, len(registry))
	for name, k := range registry {
		if name == k.Name {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// KindNames returns every name a kind answers to, aliases included,
// sorted.
func KindNames() []string {
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	sort.Strings(out)
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
