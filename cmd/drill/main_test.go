package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"drill": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts of testdata/script: drill as users
// call it, exit codes included. The conditions [xmllint] and [junitparser]
// say whether the tools that check the JUnit files are installed; on CI
// (CI=true) a missing one fails the script instead of skipping its checks.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Condition: func(cond string) (bool, error) {
			var err error
			switch cond {
			case "xmllint":
				_, err = exec.LookPath("xmllint")
			case "junitparser":
				err = exec.Command("/usr/bin/python3", "-c", "import junitparser").Run()
			default:
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			if err != nil && os.Getenv("CI") == "true" {
				return false, fmt.Errorf("%s is missing (%v); CI=true: CI must not skip the JUnit checks", cond, err)
			}
			return err == nil, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits CODE CMD ARGS... runs a command and checks its exit code.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 || neg {
					ts.Fatalf("usage: exits CODE command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				ts.Check(err)
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				switch {
				case errors.As(err, &ee):
					got = ee.ExitCode()
				case err != nil:
					ts.Fatalf("%v", err)
				}
				if got != want {
					ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
				}
			},
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			schema, err := filepath.Abs("../../internal/app/report/testdata/JUnit.xsd")
			if err != nil {
				return err
			}
			env.Setenv("SCHEMA", schema)
			return nil
		},
	})
}
