package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/app/docs"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/steps"
)

func newKindsCmd(stdout io.Writer) *cobra.Command {
	var markdown bool
	c := &cobra.Command{
		Use:   "kinds [NAME]",
		Short: "List the step kinds, or explain one",
		Example: `  drill kinds
  drill kinds patroni.wait_leader
  drill kinds --markdown > steps.md`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case markdown:
				docs.WriteMarkdown(stdout)
			case len(args) == 0:
				docs.WriteKindList(stdout)
			default:
				k, ok := steps.Lookup(args[0])
				if !ok {
					return exitWith(report.ExitInvalid, fmt.Errorf("drill kinds: no step kind %q%s", args[0], dsl.DidYouMean(args[0], steps.KindNames())))
				}
				docs.WriteKind(stdout, k)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&markdown, "markdown", false, "print the whole catalogue as Markdown, as in docs/steps.md")
	return c
}

func newSchemaCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print a JSON Schema of the scenario language, for editors",
		Long: `schema prints a JSON Schema generated from the registry of step kinds. Save it
and point your editor at it, e.g. with the YAML language server:

  # yaml-language-server: $schema=./drill.schema.json`,
		Example: "  drill schema > drill.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			data, err := docs.JSONSchema()
			if err != nil {
				return exitWith(report.ExitError, err)
			}
			_, err = fmt.Fprintln(stdout, string(data))
			return err
		},
	}
}

// printPlan prints what a run would do, with vars resolved and each
// scenario's text masked as a whole; it injects nothing.
func printPlan(out io.Writer, loaded []*runner.Loaded) {
	for _, l := range loaded {
		var w strings.Builder
		fmt.Fprintf(&w, "scenario %s%s (%s)\n", l.Scenario.Name, report.MatrixLabel(l.Matrix), l.Scenario.File)
		if len(l.Vars) > 0 {
			var parts []string
			for _, v := range l.Scenario.Vars {
				val := dsl.VarString(l.Vars[v.Name])
				if v.Secret {
					val = "***"
				}
				parts = append(parts, v.Name+"="+val)
			}
			fmt.Fprintf(&w, "  vars: %s\n", strings.Join(parts, " "))
		}
		printSteps(&w, "steps", l.Steps)
		printSteps(&w, "cleanup", l.Cleanup)
		if len(l.Checks) > 0 {
			fmt.Fprintln(&w, "  checks:")
			for _, c := range l.Checks {
				fmt.Fprintf(&w, "    - %s\n", c.Spec.Expr)
			}
		}
		io.WriteString(out, report.NewMasker(l.Secrets).Mask(w.String()))
	}
	fmt.Fprintln(out, "dry run: nothing was run or injected")
}

func printSteps(w io.Writer, title string, list []*steps.Built) {
	if len(list) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", title)
	for i, b := range list {
		fault := ""
		if b.Kind.Fault {
			fault = " [fault]"
		}
		fmt.Fprintf(w, "    %d. %s (%s, timeout %s)%s%s\n", i+1, b.Spec.Name, b.Kind.Name, b.Timeout, fault, paramText(b.Step))
	}
}

// maskCredentials returns v, or for a map of strings (env, headers) a copy
// with *** for the value of every key named like a credential
// (report.IsCredentialName), whether or not it came from a secret var.
func maskCredentials(v reflect.Value) reflect.Value {
	if v.Kind() != reflect.Map || v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
		return v
	}
	out := reflect.MakeMapWithSize(v.Type(), v.Len())
	for it := v.MapRange(); it.Next(); {
		val := it.Value()
		if report.IsCredentialName(it.Key().String()) {
			val = reflect.ValueOf("***").Convert(v.Type().Elem())
		}
		out.SetMapIndex(it.Key(), val)
	}
	return out
}

// paramText renders a step's non-default parameters as key=value.
func paramText(s steps.Step) string {
	v := reflect.ValueOf(s).Elem()
	var parts []string
	for _, f := range dsl.Fields(v.Type()) {
		fv := v.Field(f.Index)
		if fv.IsZero() || (fv.Kind() == reflect.Pointer && fv.Type().Elem().Name() == "Node") {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v", f.Key, maskCredentials(fv).Interface()))
	}
	if len(parts) == 0 {
		return ""
	}
	return "\n       " + strings.Join(parts, " ")
}
