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
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
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

// Load loads every scenario of paths, with the var overrides of the command
// line. It returns every problem of every file at once, as a
// dsl.ErrorList, or a *UsageError.
func Load(paths []string, overrides map[string]string) ([]*Loaded, error) {
	files, err := ScenarioFiles(paths)
	var errs dsl.ErrorList
	errs.Add(err)
	// Files load in parallel; results keep the order of files.
	results := make([]*Loaded, len(files))
	fileErrs := make([]error, len(files))
	used := make([]map[string]bool, len(files))
	clusters := &clusterFiles{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			used[i] = map[string]bool{}
			data, err := os.ReadFile(f)
			if err != nil {
				fileErrs[i] = dsl.Errorf(dsl.Pos{File: f}, "cannot read: %v", unwrapPathError(err))
				return
			}
			results[i], fileErrs[i] = loadScenario(f, data, overrides, used[i], clusters)
		}()
	}
	wg.Wait()
	var out []*Loaded
	declared := map[string]bool{}
	for i := range files {
		errs.Add(fileErrs[i])
		if results[i] != nil {
			out = append(out, results[i])
		}
		for name := range used[i] {
			declared[name] = true
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	for name := range overrides {
		if !declared[name] {
			return nil, &UsageError{Msg: fmt.Sprintf("--var %s: no scenario declares a var named %q", name, name)}
		}
	}
	return out, nil
}

// LoadScenario loads one file's content. used collects the override names
// that the scenario declares.
func LoadScenario(file string, data []byte, overrides map[string]string, used map[string]bool) (*Loaded, error) {
	return loadScenario(file, data, overrides, used, &clusterFiles{})
}

// loadScenario is LoadScenario reading shared cluster files through
// clusters.
func loadScenario(file string, data []byte, overrides map[string]string, used map[string]bool, clusters *clusterFiles) (*Loaded, error) {
	sc, err := dsl.Parse(file, data)
	if err != nil {
		return nil, err
	}
	var errs dsl.ErrorList
	l := &Loaded{Scenario: sc, Vars: map[string]any{}, Cluster: &cluster.Cluster{}}
	for _, v := range sc.Vars {
		val := v.Default
		if o, ok := overrides[v.Name]; ok {
			used[v.Name] = true
			typed, err := convertVar(o, v.Default)
			if err != nil {
				errs = append(errs, dsl.Errorf(v.Pos, "--var %s=%s: %v", v.Name, o, err))
			}
			val = typed
		}
		l.Vars[v.Name] = val
		if v.Secret {
			l.Secrets = append(l.Secrets, dsl.VarString(val))
		}
	}
	clusterNode, clusterFile := sc.Cluster, file
	if sc.ClusterFile != "" {
		clusterFile = filepath.Join(filepath.Dir(file), sc.ClusterFile)
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
		dc := &dsl.DecodeContext{File: clusterFile, Where: "the cluster block", Vars: l.Vars}
		dc.DecodeStruct(clusterNode, l.Cluster)
		errs = append(errs, dc.Errs...)
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
	build := func(list []*dsl.Step, phase string) []*steps.Built {
		var built []*steps.Built
		for _, spec := range list {
			bc := steps.BuildContext{File: file, Src: data, Vars: l.Vars, Schema: schema, CheckRef: refChecker(ids, phase)}
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
	for id, b := range ids {
		if _, clash := schema.Metrics[id]; clash || id == "vars" {
			errs = append(errs, dsl.Errorf(b.Spec.Pos, "step id %q is also the name of a metric or of vars: choose another id", id))
		}
	}
	for _, c := range sc.Checks {
		check, err := assertions.Compile(c.Expr, schema)
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
