package report

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/golden"
	"github.com/drill-dev/drill/internal/metric"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// sampleRun is a run with every outcome: passed, failed, error, ignored and
// skipped steps, a failed undo, passed/failed/error/skipped checks, secrets
// and ANSI codes in logs.
func sampleRun() *Run {
	pos := func(line int) dsl.Pos { return dsl.Pos{File: "scenarios/leader-stop.yaml", Line: line, Col: 5} }
	s := &Scenario{
		Name: "leader stop", File: "scenarios/leader-stop.yaml", Started: t0, Finished: t0.Add(42500 * time.Millisecond),
		Steps: []*Step{
			{ID: "stop", Name: "stop the leader", Kind: "compose.stop", Pos: pos(10), Phase: "steps", Status: Passed, Started: t0, Duration: 1200 * time.Millisecond, Log: "\x1b[32mstopped\x1b[0m drill-testbed_postgres-master_1\n"},
			{Name: "optional probe", Kind: "http", Pos: pos(14), Phase: "steps", Status: Ignored, Message: "GET http://127.0.0.1:1/: connection refused", Started: t0, Duration: time.Millisecond},
			{ID: "wait", Name: "wait for a new leader", Kind: "wait_until", Pos: pos(18), Phase: "steps", Status: Error, Message: `step "wait for a new leader" (scenarios/leader-stop.yaml:18:5) timed out after 30s`, Started: t0, Duration: 30 * time.Second, Log: "dsn postgres://app:hunter2@127.0.0.1:16432/fileshare\x00\n"},
			{Name: "start it again", Kind: "compose.start", Pos: pos(22), Phase: "steps", Status: Skipped, Message: "step 3 failed", Started: t0},
		},
		Cleanup: []*Step{{Name: "tidy", Kind: "shell", Pos: pos(30), Phase: "cleanup", Status: Passed, Started: t0, Duration: 5 * time.Millisecond}},
		Undo: []*Undo{
			{Fault: "stop container drill-testbed_postgres-master_1", Step: "stop the leader", Status: Passed, At: t0},
			{Fault: "partition [postgres-master] | [etcd]", Step: "cut", Status: Error, Message: "could not undo: engine refused", At: t0},
		},
		Checks: []*Check{
			{Name: "rto_s < 60", Expr: "rto_s < 60", Pos: pos(40), Status: Failed, Message: "rto_s < 60: rto_s = 71.3", Seen: []assertions.Seen{{Name: "rto_s", Value: 71.3}}},
			{Name: "no lost writes", Expr: "lost_writes == 0", Pos: pos(41), Status: Error, Message: "not measured: lost_writes (the step that records it did not run or failed)"},
			{Name: "leader changed", Expr: `leader != "postgres-master"`, Pos: pos(42), Status: Passed, Seen: []assertions.Seen{{Name: "leader", Value: "postgres-standby1"}}},
			{Name: "lag", Expr: "lag_mb < 1", Pos: pos(43), Status: Skipped, Message: "step 3 failed"},
		},
		Metrics: []metric.Sample{
			{Name: "fault_at", Step: "stop", Value: t0, At: t0},
			{Name: "rto_s", Step: "wait", Value: 71.3, At: t0},
			{Name: "leader", Step: "wait", Value: "postgres-standby1", At: t0},
		},
		Aborted: "step 3 failed",
	}
	return &Run{Started: t0, Finished: t0.Add(43 * time.Second), Scenarios: []*Scenario{s}, HTML: "out/leader-stop.html"}
}

func TestJUnitGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sampleRun(), NewMasker([]string{"s3cret"})); err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(buf.String(), `hostname="`+hostname()+`"`, `hostname="HOST"`, 1)
	golden.Check(t, "testdata/leader-stop.junit.xml", []byte(out))
	for _, bad := range []string{"hunter2", "\x1b", "\x00"} {
		if strings.Contains(out, bad) {
			t.Errorf("the JUnit output contains %q", bad)
		}
	}
	// without --html there is nothing to link to
	run := sampleRun()
	run.HTML = ""
	buf.Reset()
	if err := WriteJUnit(&buf, run, nil); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); strings.Contains(s, HTMLProperty) || strings.Contains(s, "[[ATTACHMENT") {
		t.Errorf("a run without an HTML report links to one")
	}
}

// TestJUnitSchema validates the output with xmllint against the Ant JUnit
// schema that CI consumers agree with (testdata/JUnit.xsd). Without xmllint
// it is skipped, except on CI (CI=true), where it fails.
func TestJUnitSchema(t *testing.T) {
	t.Parallel()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		const why = "xmllint not installed: apt-get install libxml2-utils"
		if os.Getenv("CI") == "true" {
			t.Fatal(why + " (CI=true: CI must not skip the schema check)")
		}
		t.Skip(why)
	}
	const schema = "testdata/JUnit.xsd"
	path := filepath.Join(t.TempDir(), "junit.xml")
	err = WriteFileAtomic(path, func(w io.Writer) error { return WriteJUnit(w, sampleRun(), nil) })
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--schema", schema, path).CombinedOutput(); err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	run := sampleRun()
	if got := run.ExitCode(); got != ExitError {
		t.Errorf("a run with a failed step: exit %d, want %d", got, ExitError)
	}
	run.Interrupted = true
	if got := run.ExitCode(); got != ExitInterrupted {
		t.Errorf("an interrupted run: exit %d, want %d", got, ExitInterrupted)
	}
	onlyCheck := &Run{Scenarios: []*Scenario{{Steps: []*Step{{Status: Passed}}, Checks: []*Check{{Status: Failed}}}}}
	if got := onlyCheck.ExitCode(); got != ExitCheckFailed {
		t.Errorf("a failed check: exit %d, want %d", got, ExitCheckFailed)
	}
	passed := &Run{Scenarios: []*Scenario{{Steps: []*Step{{Status: Passed}, {Status: Ignored}}, Checks: []*Check{{Status: Passed}}}}}
	if got := passed.ExitCode(); got != ExitPassed {
		t.Errorf("a passing run: exit %d, want %d", got, ExitPassed)
	}
}

func TestConsoleGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := &Console{W: &buf, Mask: NewMasker(nil)}
	replay(c, sampleRun().Scenarios[0])
	golden.Check(t, "testdata/leader-stop.console.txt", buf.Bytes())
}

// replay tells the console about s in the runner's order: the steps, the
// undo of their faults, cleanup.
func replay(c *Console, s *Scenario) {
	c.ScenarioStarted(s)
	for _, st := range s.Steps {
		if st.Status != Skipped {
			c.StepStarted(st)
		}
		c.StepFinished(st)
	}
	for _, u := range s.Undo {
		c.UndoFinished(u)
	}
	for _, st := range s.Cleanup {
		c.StepStarted(st)
		c.StepFinished(st)
	}
	c.ScenarioFinished(s)
}

// TestConsoleNames: a long step or check name is cut to its column only on
// a terminal; a log file or CI gets it whole.
func TestConsoleNames(t *testing.T) {
	t.Parallel()
	long := "wait until the old leader has rejoined as a streaming replica"
	for _, tc := range []struct {
		tty  bool
		want string
	}{
		{false, "  ✓ " + long + " wait_until                   2s\n    ✓ " + long + " (check)  \n"},
		{true, "  ✓ wait until the old leader has r… wait_until                   2s\n    ✓ wait until the old leader has rejoined as a str…  \n"},
	} {
		var buf bytes.Buffer
		c := &Console{W: &buf, TTY: tc.tty, Mask: NewMasker(nil)}
		c.StepFinished(&Step{Name: long, Kind: "wait_until", Status: Passed, Duration: 2 * time.Second})
		c.printCheck(&Check{Name: long + " (check)", Status: Passed}, 48)
		if got := buf.String(); got != tc.want {
			t.Errorf("TTY %v:\n got %q\nwant %q", tc.tty, got, tc.want)
		}
	}
}

func TestMasker(t *testing.T) {
	t.Parallel()
	m := NewMasker([]string{"tok3n", ""})
	for in, want := range map[string]string{
		"postgres://app:hunter2@db:5432/x":      "postgres://app:***@db:5432/x",
		"host=db password=hunter2 user=app":     "host=db password=*** user=app",
		"host=db password='two words' user=app": "host=db password=*** user=app",
		"Authorization: Bearer tok3n":           "Authorization: Bearer ***",
		"http://127.0.0.1:18008/cluster":        "http://127.0.0.1:18008/cluster",
	} {
		if got := m.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func hostname() string {
	h, _ := os.Hostname()
	if h == "" {
		return "localhost"
	}
	return h
}
