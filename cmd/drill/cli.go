package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/procgroup"
	"github.com/drill-dev/drill/steps"
	_ "github.com/drill-dev/drill/steps/all" // every step kind and platform
)

// exitError carries an exit code through cobra, and optionally a hint:
// a sentence for the user that Main prints on the line after the error.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

// exitHint is exitWith with a hint printed after the error.
func exitHint(code int, err error, hint string) error {
	return &exitError{code: code, err: err, hint: hint}
}

// Main runs drill with args and returns its exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Packages log through the default logger: warnings only, unless a
	// command asks for more (-v).
	slog.SetDefault(newLogger(stderr, false, "text", nil))
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, ee.err)
		}
		if ee.hint != "" {
			fmt.Fprintln(stderr, ee.hint)
		}
		return ee.code
	}
	// Anything else cobra returns is a usage error: unknown command or flag.
	fmt.Fprintf(stderr, "drill: %v\nRun 'drill --help' for usage.\n", err)
	return report.ExitInvalid
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "drill",
		Short: "Declarative failover drills for PostgreSQL high availability",
		Long: `drill runs failover drills written as YAML scenarios against a real Patroni
cluster: it stops, kills, pauses or cuts off nodes, measures what happened
(recovery time, lost writes, replication lag, split brain) and checks it
against expressions such as "rto_s < 60 && lost_writes == 0".

Exit codes: 0 all checks passed, 1 a check failed, 2 invalid scenario or
usage (nothing was injected), 3 a step or the infrastructure failed,
130 interrupted.`,
		Example: `  drill validate scenarios/
  drill run scenarios/leader-stop.yaml --junit out/junit.xml --json out/run.json
  drill run scenarios/ --var rows=5000 --fail-fast
  drill kinds compose.stop
  drill cleanup`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitHint(report.ExitInvalid, fmt.Errorf("%s: %w", c.CommandPath(), err), fmt.Sprintf("Run '%s --help' for usage.", c.CommandPath()))
	})
	root.AddCommand(newRunCmd(stdout, stderr), newValidateCmd(stdout, stderr), newKindsCmd(stdout), newSchemaCmd(stdout), newCleanupCmd(stdout, stderr), newStatusCmd(stdout, stderr), newMonitorCmd(stdout, stderr),
		newReportCmd(stdout))
	return root
}

// loadFlags are the flags of every command that loads scenarios.
type loadFlags struct {
	vars    []string
	varFile string
	cluster string
	// color: load errors are printed in colour (stderr is a terminal and
	// NO_COLOR is unset).
	color bool
}

// register adds the flags to c; stderr is where load errors go.
func (f *loadFlags) register(c *cobra.Command, stderr io.Writer) {
	f.color = isTerminal(stderr) && os.Getenv("NO_COLOR") == ""
	c.Flags().StringArrayVar(&f.vars, "var", nil, "set a var: `name=value` (repeatable; overrides --var-file and the scenario's default)")
	c.Flags().StringVar(&f.varFile, "var-file", "", "YAML `file` of var values (name: value)")
	c.Flags().StringVar(&f.cluster, "cluster", "", "use the cluster block in `file` instead of each scenario's own: the same drills on another cluster (hosts over SSH, a remote engine)")
}

// overrides merges --var-file and --var values.
func (f *loadFlags) overrides() (map[string]runner.Override, error) {
	out := map[string]runner.Override{}
	if f.varFile != "" {
		if err := readVarFile(f.varFile, out); err != nil {
			return nil, err
		}
	}
	for _, kv := range f.vars {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !dsl.IsIdent(name) {
			return nil, fmt.Errorf("--var %q: write name=value", kv)
		}
		out[name] = runner.Override{Value: value}
	}
	return out, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readVarFile reads a var file (a mapping of name: value) into out; every
// error is at the file's path:line:col.
func readVarFile(path string, out map[string]runner.Override) error {
	data, err := runner.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--var-file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := "1", strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			line, msg = m[1], m[2]
		}
		return fmt.Errorf("%s:%s:1: YAML syntax: %s", path, line, msg)
	}
	if len(doc.Content) != 1 {
		return nil
	}
	m := doc.Content[0]
	at := func(n *yaml.Node) dsl.Pos { return dsl.At(path, n) }
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: expected a mapping of name: value", at(m))
	}
	first := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if line, dup := first[k.Value]; dup {
			return fmt.Errorf("%s: duplicate var %q (first at line %d)", at(k), k.Value, line)
		}
		first[k.Value] = k.Line
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s: the value of %s must be a single value", at(v), k.Value)
		}
		out[k.Value] = runner.Override{Value: v.Value, Pos: at(v)}
	}
	return nil
}

// load loads the scenarios and turns problems into exit code 2. each, when
// not nil, sees every file's result as it comes (see runner.LoadFiles).
func (f *loadFlags) load(paths []string, each func(file string, l *runner.Loaded, err error)) ([]*runner.Loaded, error) {
	ov, err := f.overrides()
	if err != nil {
		return nil, exitWith(report.ExitInvalid, err)
	}
	files, ferr := runner.ScenarioFiles(paths)
	var list dsl.ErrorList
	list.Add(ferr)
	if each != nil {
		for _, e := range list {
			each(e.Pos.File, nil, dsl.ErrorList{e})
		}
	}
	var opts []runner.LoadOption
	if f.cluster != "" {
		opts = append(opts, runner.WithCluster(f.cluster))
	}
	loaded, err := runner.LoadFiles(files, ov, each, opts...)
	var usage *runner.UsageError
	if errors.As(err, &usage) && len(list) == 0 {
		return nil, exitWith(report.ExitInvalid, err)
	}
	if !errors.As(err, &usage) {
		list.Add(err)
	}
	switch {
	case len(list) == 0:
		return loaded, nil
	case each != nil: // each has shown them
		return nil, exitWith(report.ExitInvalid, fmt.Errorf("%s; nothing was run", plural(len(list), "error")))
	}
	list.Sort()
	return nil, exitWith(report.ExitInvalid, fmt.Errorf("%s\n%s; nothing was run", list.Render(readSource(), f.color), plural(len(list), "error")))
}

// errorCount is how many problems a load error holds.
func errorCount(err error) int {
	var list dsl.ErrorList
	if errors.As(err, &list) {
		return len(list)
	}
	return 1
}

// readSource returns a reader of files for error snippets, each file read
// once; a file that cannot be read gives nil (no snippet).
func readSource() func(file string) []byte {
	files := map[string][]byte{}
	return func(file string) []byte {
		data, ok := files[file]
		if !ok {
			data, _ = os.ReadFile(file)
			files[file] = data
		}
		return data
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func newValidateCmd(stdout, stderr io.Writer) *cobra.Command {
	var lf loadFlags
	c := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Load and check scenarios without touching anything",
		Long: `validate parses every scenario, decodes every step strictly and compiles every
check, and reports every problem of every file at once, as file:line:col.
It touches nothing: no container, no database, no network.`,
		Example: "  drill validate scenarios/\n  drill validate my-drill.yaml --var rows=100",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			valid, invalid := 0, 0
			shown := map[string]bool{} // an error of a shared cluster file is shown once
			_, err := lf.load(args, func(file string, l *runner.Loaded, err error) {
				if err != nil {
					invalid++
					fmt.Fprintf(stdout, "FAIL %s  (%s)\n", file, plural(errorCount(err), "error"))
					var list dsl.ErrorList
					if errors.As(err, &list) {
						var fresh dsl.ErrorList
						for _, e := range list {
							if !shown[e.Error()] {
								shown[e.Error()] = true
								fresh = append(fresh, e)
							}
						}
						if len(fresh) > 0 {
							fresh.Sort()
							fmt.Fprintln(stderr, fresh.Render(readSource(), lf.color))
						}
					} else {
						fmt.Fprintln(stderr, err)
					}
					return
				}
				valid++
				fmt.Fprintf(stdout, "ok  %s  (%s, %d checks)\n", l.Scenario.File, plural(len(l.Steps)+len(l.Cleanup), "step"), len(l.Checks))
			})
			if valid+invalid > 0 {
				fmt.Fprintf(stdout, "%s: %d valid, %d invalid\n", plural(valid+invalid, "file"), valid, invalid)
			}
			return err
		},
	}
	lf.register(c, stderr)
	return c
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		lf        loadFlags
		junitPath string
		jsonPath  string
		timeout   time.Duration
		dryRun    bool
		failFast  bool
		verbose   bool
		logFormat string
		stateDir  string
		htmlPath  string
		rf        repeatFlags
	)
	c := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Run scenarios against the cluster and report",
		Long: `run loads every scenario first (any problem: exit 2, nothing is touched), then
runs them in order. Each step runs under its own time limit. Whatever happens
(a failed step, Ctrl-C, --timeout), every fault still open is undone and then the
scenario's cleanup steps run. Reports are written even when the run is aborted.
A second Ctrl-C exits at once; then run 'drill cleanup'.`,
		Example: `  drill run scenarios/health.yaml
  drill run scenarios/ --junit out/junit.xml --json out/run.json --html out/run.html --timeout 20m
  drill run scenarios/lag-under-load.yaml --var rows=1000 --dry-run`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if timeout < 0 {
				return exitHint(report.ExitInvalid, fmt.Errorf("drill run: --timeout must not be negative, found %s", timeout), "Leave it out, or give 0, for no limit.")
			}
			if logFormat != "text" && logFormat != "json" {
				return exitWith(report.ExitInvalid, fmt.Errorf("--log-format must be text or json, not %q", logFormat))
			}
			if err := rf.check(); err != nil {
				return err
			}
			loaded, err := lf.load(args, nil)
			if err != nil {
				return err
			}
			if dryRun {
				printPlan(stdout, loaded)
				return nil
			}
			var secrets []string
			for _, l := range loaded {
				secrets = append(secrets, l.Secrets...)
			}
			mask := report.NewMasker(secrets)
			logger := newLogger(stderr, verbose, logFormat, mask)
			slog.SetDefault(logger)
			tty := isTerminal(stdout)
			console := &report.Console{W: stdout, TTY: tty, Color: tty && os.Getenv("NO_COLOR") == "", Mask: mask}

			ctx, stop := interruptContext(stderr)
			defer stop()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the run's --timeout of %s ran out", timeout))
				defer cancel()
			}
			run := runner.Run(ctx, loaded, runner.Options{Observer: console, Logger: logger, StateDir: stateDir, FailFast: failFast, Repeat: rf.repeat})
			stampRun(run, htmlPath)
			if len(run.Scenarios) > 1 {
				console.Summary(run)
			}
			if err := errors.Join(writeReports(run, mask, junitPath, jsonPath), writeHTML(run, mask, htmlPath), rf.write(run, mask)); err != nil {
				fmt.Fprintln(stderr, err)
				return exitWith(report.ExitError, nil)
			}
			return exitWith(run.ExitCode(), nil)
		},
	}
	lf.register(c, stderr)
	rf.register(c)
	f := c.Flags()
	f.StringVar(&junitPath, "junit", "", "write a JUnit XML report to `path`")
	f.StringVar(&jsonPath, "json", "", "write the JSON journal of the run to `path`")
	f.DurationVar(&timeout, "timeout", 0, "limit for the whole run, e.g. 20m (0: none)")
	f.BoolVar(&dryRun, "dry-run", false, "load, resolve and print the plan; inject nothing")
	f.BoolVar(&failFast, "fail-fast", false, "stop after the first scenario that does not pass")
	f.BoolVarP(&verbose, "verbose", "v", false, "log what drill does, on stderr")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&stateDir, "state-dir", ".drill", "`directory` of the fault ledger")
	registerHTML(c, &htmlPath)
	return c
}

// writeReports writes the requested report files atomically.
func writeReports(run *report.Run, mask *report.Masker, junitPath, jsonPath string) error {
	var errs []error
	if junitPath != "" {
		errs = append(errs, report.WriteFileAtomic(junitPath, func(w io.Writer) error { return report.WriteJUnit(w, run, mask) }))
	}
	if jsonPath != "" {
		errs = append(errs, report.WriteFileAtomic(jsonPath, func(w io.Writer) error { return report.WriteJSON(w, run, mask) }))
	}
	return errors.Join(errs...)
}

// interruptContext returns a context cancelled with runner.ErrInterrupted on
// the first SIGINT or SIGTERM; a second one kills the process groups of the
// host commands still running and exits at once with 130.
func interruptContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "\ndrill: interrupted: stopping the current step, running cleanup and writing reports (press Ctrl-C again to exit at once, then run 'drill cleanup')")
		cancel(runner.ErrInterrupted)
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "drill: interrupted again: exiting now; run 'drill cleanup' to undo open faults")
			procgroup.KillAll()
			os.Exit(report.ExitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// newLogger logs to w at warning level, or debug with verbose, as text or
// JSON lines; every record is masked by mask before it is encoded.
func newLogger(w io.Writer, verbose bool, format string, mask *report.Masker) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(report.MaskHandler(h, mask))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newCleanupCmd(stdout, stderr io.Writer) *cobra.Command {
	var stateDir string
	c := &cobra.Command{
		Use:   "cleanup",
		Short: "Undo the faults a killed drill left open",
		Long: `cleanup reads the fault ledger (written before every fault is applied) and undoes
every fault still open, newest first: unpause, start, reconnect, remove
partition and latency rules. Undo is idempotent: running it twice is safe.`,
		Example: "  drill cleanup\n  drill cleanup --state-dir /tmp/drill-state",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ctx, stop := interruptContext(stderr)
			defer stop()
			undos, err := runner.Cleanup(ctx, stateDir, steps.NewPorts(nil, slog.Default()))
			if err != nil {
				return exitWith(report.ExitError, err)
			}
			if len(undos) == 0 {
				fmt.Fprintf(stdout, "nothing to undo in %s\n", stateDir)
				return nil
			}
			failed := 0
			for _, u := range undos {
				fmt.Fprintf(stdout, "%s undo %s (step %q)", u.Status, u.Fault, u.Step)
				if u.Message != "" {
					fmt.Fprintf(stdout, ": %s", u.Message)
				}
				fmt.Fprintln(stdout)
				if u.Status == report.Error {
					failed++
				}
			}
			if failed > 0 {
				return exitWith(report.ExitError, fmt.Errorf("drill cleanup: %s could not be undone; they stay in the ledger", plural(failed, "fault")))
			}
			return nil
		},
	}
	c.Flags().StringVar(&stateDir, "state-dir", ".drill", "`directory` of the fault ledger")
	return c
}
