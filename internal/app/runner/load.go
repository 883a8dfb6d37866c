// Package runner loads scenarios (parse, decode every step strictly, compile
// every check) and runs them: steps in order under their time limits, then
// cleanup steps and the undo of every fault, then the checks. Loading
// touches nothing; a scenario that fails to load never runs.
package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/steps"
)

// Loaded is a scenario ready to run.
type Loaded struct {
	Scenario *dsl.Scenario
	Vars     map[string]any
	Secrets  []string // values to mask in every output
	Cluster  *cluster.Cluster
	Steps    []*steps.Built
	Cleanup  []*steps.Built
	Checks   []*LoadedCheck
	// Matrix is the combination of matrix vars this Loaded runs with, in
	// the order the matrix declares them; nil without a matrix.
	Matrix []report.MatrixVar
}

// LoadedCheck is a compiled end-of-run check.
type LoadedCheck struct {
	Spec  *dsl.Check
	Check *assertions.Check
}

// UsageError is a problem with the command line rather than a file (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ScenarioFiles expands files and directories into the scenario files to
// load, in order: files as given, directories' *.yaml and *.yml files
// (recursively) sorted by path.
func ScenarioFiles(paths []string) ([]string, error) {
	var out []string
	var errs dsl.ErrorList
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, dsl.Errorf(dsl.Pos{File: p}, "cannot read: %v", unwrapPathError(err)))
			continue
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, dsl.Errorf(dsl.Pos{File: p}, "cannot read the directory: %v", err))
			continue
		}
		if len(found) == 0 {
			errs = append(errs, dsl.Errorf(dsl.Pos{File: p}, "no scenarios in this directory (no *.yaml or *.yml files)"))
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, errs.Err()
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// Override is a var's value given outside the scenario: --var name=value
// (Pos is zero) or a var file (Pos is where the value is written).
type Override struct {
	Value string
	Pos   dsl.Pos
}

// source names where an override comes from, for messages.
func (o Override) source(name string) string {
	if o.Pos.File == "" {
		return "--var " + name
	}
	return o.Pos.String() + ": " + name
}

// overrideError reports a value that does not fit its var's type: at the
// var for --var, at the value for a var file.
func overrideError(v *dsl.Var, o Override, err error) *dsl.Error {
	if o.Pos.File == "" {
		shown := o.Value
		if v.Secret {
			shown = "***" // an error message must not carry a secret either
		}
		return dsl.Errorf(v.Pos, "--var %s=%s: %v", v.Name, shown, err)
	}
	return dsl.Errorf(o.Pos, "%s: %v, as its default at %s", v.Name, err, v.Pos)
}

// Overrides turns --var values into Overrides.
func Overrides(values map[string]string) map[string]Override {
	out := make(map[string]Override, len(values))
	for k, v := range values {
		out[k] = Override{Value: v}
	}
	return out
}

// Load loads every scenario of paths, with the var overrides of the command
// line. It returns every problem of every file at once, as a
// dsl.ErrorList, or a *UsageError.
func Load(paths []string, overrides map[string]string) ([]*Loaded, error) {
	files, err := ScenarioFiles(paths)
	var errs dsl.ErrorList
	errs.Add(err)
	loaded, err := LoadFiles(files, Overrides(overrides), nil)
	if _, usage := err.(*UsageError); usage {
		if len(errs) == 0 {
			return nil, err
		}
		err = nil // the files' errors come first
	}
	errs.Add(err)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return loaded, nil
}

// LoadFiles loads scenario files in parallel. each, when not nil, is called
// for every file in order, as soon as that file and those before it are
// loaded, with the file's scenario or its errors: one slow or broken file
// does not hide the others. The result is as Load's.
func LoadFiles(files []string, overrides map[string]Override, each func(file string, l *Loaded, err error), opts ...LoadOption) ([]*Loaded, error) {
	var cfg loadConfig
	for _, o := range opts {
		o(&cfg)
	}
	clusters := &clusterFiles{}
	results := make([][]*Loaded, len(files))
	fileErrs := make([]error, len(files))
	used := make([]map[string]bool, len(files))
	done := make([]chan struct{}, len(files))
	for i := range done {
		done[i] = make(chan struct{})
	}
	go func() {
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for i, f := range files {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; close(done[i]) }()
				used[i] = map[string]bool{}
				data, err := readFile(f)
				if err != nil {
					fileErrs[i] = dsl.Errorf(dsl.Pos{File: f}, "cannot read: %v", err)
					return
				}
				results[i], fileErrs[i] = loadScenario(f, data, overrides, used[i], cfg, clusters)
			}()
		}
	}()
	var out []*Loaded
	var errs dsl.ErrorList
	declared := map[string]bool{}
	for i := range files {
		<-done[i]
		if each != nil {
			var first *Loaded
			if len(results[i]) > 0 {
				first = results[i][0]
			}
			each(files[i], first, fileErrs[i])
		}
		errs.Add(fileErrs[i])
		out = append(out, results[i]...)
		for name := range used[i] {
			declared[name] = true
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	for name, o := range overrides {
		if !declared[name] {
			return nil, &UsageError{Msg: fmt.Sprintf("%s: no scenario declares a var named %q", o.source(name), name)}
		}
	}
	return out, nil
}

// LoadScenario loads one file's content. used collects the override names
// that the scenario declares. A scenario with a matrix gives its first
// combination (every combination is loaded and checked); LoadScenarios
// gives them all.
func LoadScenario(file string, data []byte, overrides map[string]string, used map[string]bool) (*Loaded, error) {
	all, err := LoadScenarios(file, data, overrides, used)
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// LoadScenarios loads one file's content: one Loaded, or one per
// combination of its matrix.
func LoadScenarios(file string, data []byte, overrides map[string]string, used map[string]bool) ([]*Loaded, error) {
	return loadScenario(file, data, Overrides(overrides), used, loadConfig{}, &clusterFiles{})
}

// LoadOption changes how LoadFiles loads.
type LoadOption func(*loadConfig)

type loadConfig struct {
	cluster string // a cluster file that replaces every scenario's cluster block
}

// WithCluster makes every scenario use the cluster file at path instead of
// its own cluster block: the same drills against another cluster (hosts,
// a remote engine).
func WithCluster(path string) LoadOption {
	return func(c *loadConfig) { c.cluster = path }
}

// loadScenario loads one scenario, reading shared cluster files through
// clusters: one Loaded, or one per combination of its matrix.
func loadScenario(file string, data []byte, overrides map[string]Override, used map[string]bool, cfg loadConfig, clusters *clusterFiles) ([]*Loaded, error) {
	sc, err := dsl.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if sc.Matrix == nil || len(sc.Matrix.Axes) == 0 {
		l, err := loadParsed(sc, data, overrides, used, cfg, clusters)
		if err != nil {
			return nil, err
		}
		return []*Loaded{l}, nil
	}
	return loadMatrix(sc, data, overrides, used, cfg, clusters)
}

// loadParsed loads a parsed scenario with the given var overrides.
func loadParsed(sc *dsl.Scenario, data []byte, overrides map[string]Override, used map[string]bool, cfg loadConfig, clusters *clusterFiles) (*Loaded, error) {
	file := sc.File
	var err error
	if cfg.cluster != "" {
		abs, err := filepath.Abs(cfg.cluster)
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("--cluster %s: %v", cfg.cluster, err)}
		}
		sc.Cluster, sc.ClusterFile, sc.ClusterPos = nil, abs, dsl.Pos{File: "--cluster " + cfg.cluster}
	}
	var errs dsl.ErrorList
	l := &Loaded{Scenario: sc, Vars: map[string]any{}, Cluster: &cluster.Cluster{}}
	for _, v := range sc.Vars {
		val := v.Default
		if o, ok := overrides[v.Name]; ok {
			used[v.Name] = true
			typed, err := convertVar(o.Value, v.Default)
			if err != nil {
				errs = append(errs, overrideError(v, o, err))
			} else {
				val = typed // else the default, so that no error follows from this one
			}
		}
		l.Vars[v.Name] = val
	}
	errs = append(errs, resolveVars(sc.Vars, l.Vars)...)
	for _, v := range sc.Vars {
		if v.Secret {
			l.Secrets = append(l.Secrets, dsl.VarString(l.Vars[v.Name]))
		}
	}
	clusterNode, clusterFile := sc.Cluster, file
	if sc.ClusterFile != "" {
		clusterFile = sc.ClusterFile
		if !filepath.IsAbs(clusterFile) {
			clusterFile = filepath.Join(filepath.Dir(file), clusterFile)
		}
		clusterNode, err = clusters.read(clusterFile)
		var inFile dsl.ErrorList
		if errors.As(err, &inFile) {
			errs = append(errs, inFile...)
		} else if err != nil {
			errs = append(errs, dsl.Errorf(sc.ClusterPos, "cluster: %v", err))
		}
	}
	platformPos := sc.ClusterPos
	if clusterNode != nil {
		dc := &dsl.DecodeContext{File: clusterFile, Where: "the cluster block", Vars: l.Vars, CheckRef: clusterRef}
		dc.DecodeStruct(clusterNode, l.Cluster)
		errs = append(errs, dc.Errs...)
		errs = append(errs, checkClusterURLs(clusterFile, l.Cluster, dc.FieldNodes)...)
		errs = append(errs, checkClusterProcesses(clusterFile, l.Cluster, dc.FieldNodes)...)
		errs = append(errs, checkClusterGroups(clusterFile, l.Cluster, dc.FieldNodes)...)
		errs = append(errs, checkClusterKubernetes(clusterFile, l.Cluster, dc.FieldNodes)...)
		l.Cluster.ResolvePaths(filepath.Dir(clusterFile))
		if n, ok := dc.FieldNodes["platform"]; ok {
			platformPos = dsl.At(clusterFile, n)
		}
	}
	driver, err := platform.Lookup(l.Cluster.Platform)
	if err != nil {
		errs = append(errs, dsl.Errorf(platformPos, "cluster.platform: %v", err))
	}
	schema := assertions.NewSchema()
	schema.Vars = l.Vars
	ids := map[string]*steps.Built{}
	targets := steps.NewTargetNames(l.Cluster)
	build := func(list []*dsl.Step, phase string) []*steps.Built {
		var built []*steps.Built
		for _, spec := range list {
			spec, kerr := kindFromVars(spec, l.Vars)
			if kerr != nil {
				errs = append(errs, kerr)
				continue
			}
			bc := steps.BuildContext{File: file, Src: data, Vars: l.Vars, Schema: schema, CheckRef: refChecker(ids, phase), Targets: targets}
			b, err := steps.Build(spec, bc)
			if err != nil {
				errs.Add(err)
				if b = steps.StandIn(spec); b == nil {
					continue
				}
			} else if driver != nil {
				if missing := driver.Can(b.Kind.Needs...); len(missing) > 0 {
					errs = append(errs, dsl.Errorf(spec.KindPos, "%s cannot run on platform %s: it cannot %s", spec.Kind, driver.Name, capabilityWords(missing)))
				}
			}
			if err == nil {
				built = append(built, b)
			}
			schema.Add(spec.ID, b.Metrics)
			if spec.ID != "" {
				ids[spec.ID] = b
			}
		}
		return built
	}
	l.Steps = build(sc.Steps, "steps")
	l.Cleanup = build(sc.Cleanup, "cleanup")
	errs = append(errs, checkReferences(append(slices.Clip(l.Steps), l.Cleanup...))...)
	for id, b := range ids {
		if _, clash := schema.Metrics[id]; clash || id == "vars" {
			errs = append(errs, dsl.Errorf(b.Spec.Pos, "step id %q is also the name of a metric or of vars: choose another id", id))
		}
	}
	for _, c := range sc.Checks {
		check, err := assertions.Compile(c.Expr, schema, assertions.Distributions())
		if err != nil {
			errs = append(errs, assertions.PosError(c.ExprText, fmt.Sprintf("check %q", c.Name), err))
			continue
		}
		l.Checks = append(l.Checks, &LoadedCheck{Spec: c, Check: check})
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return l, nil
}

// capabilityWords says what a platform lacks, for a load error.
func capabilityWords(caps []platform.Capability) string {
	words := map[platform.Capability]string{
		platform.Lifecycle: "stop, kill or start a member",
		platform.Freeze:    "freeze a member",
		platform.Exec:      "run a command in a member",
		platform.Logs:      "read a member's logs",
		platform.NetRules:  "install network rules in a member's namespace",
		platform.Detach:    "take a member off a network",
	}
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = words[c]
	}
	return strings.Join(out, ", ")
}

// refChecker validates ${step.metric} references: the step must come
// earlier (any main step, for cleanup) and record that metric.
func refChecker(ids map[string]*steps.Built, phase string) func(dsl.Ref) error {
	return func(ref dsl.Ref) error {
		b, ok := ids[ref.Step]
		if !ok {
			known := make([]string, 0, len(ids))
			for id := range ids {
				known = append(known, id)
			}
			where := "an earlier step"
			if phase == "cleanup" {
				where = "a step"
			}
			return fmt.Errorf("%s: no step with id %q before this one (it must be %s with \"id: %s\")%s", ref, ref.Step, where, ref.Step, dsl.DidYouMean(ref.Step, known))
		}
		var names []string
		for _, m := range b.Metrics {
			if m.Name == ref.Name {
				return nil
			}
			names = append(names, m.Name)
		}
		return fmt.Errorf("%s: step %q (%s) records no %q; it records %s%s", ref, ref.Step, b.Kind.Name, ref.Name, dsl.OneOf(names), dsl.DidYouMean(ref.Name, names))
	}
}

// convertVar parses a command-line value to the type of the var's default.
func convertVar(s string, def any) (any, error) {
	switch def.(type) {
	case int64:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a whole number")
		}
		return i, nil
	case float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a number")
		}
		return f, nil
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("expected true or false")
		}
		return b, nil
	}
	return s, nil
}
