package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/fault/faulttest"
)

// patroniAt serves GET /patroni as a member of the given versions does.
func patroniAt(t *testing.T, version string, serverVersion int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/patroni" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"state": "running", "role": "replica", "server_version": %d, "patroni": {"version": %q, "scope": "demo"}}`, serverVersion, version)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func runRequires(t *testing.T, name, url, requires string) (*report.Run, string, *faulttest.Journal) {
	t.Helper()
	key := name + ".yaml"
	j := faulttest.New(key)
	src := fmt.Sprintf("name: %s\nrequires: %s\ncluster: {patroni: [%s]}\nsteps:\n  - {kind: test.note, text: ran}\ncleanup:\n  - {kind: test.note, text: cleaned}\nchecks:\n  - 1 == 1\n", name, requires, url)
	l, err := runner.LoadScenario(key, []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var console bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := runner.Run(ctx, []*runner.Loaded{l}, runner.Options{StateDir: t.TempDir(), Observer: &report.Console{W: &console}})
	(&report.Console{W: &console}).Summary(run)
	return run, console.String(), j
}

func TestRequiresUnmetSkipsTheScenario(t *testing.T) {
	t.Parallel()
	url := patroniAt(t, "3.0.2", 150004)
	run, console, j := runRequires(t, "needs-4", url, `{patroni: ">= 3.2", postgres: ">= 16"}`)
	s := run.Scenarios[0]
	const why = "needs Patroni >= 3.2, the cluster runs 3.0.2; needs PostgreSQL >= 16, the cluster runs 15.4"
	if s.Skipped != why || run.ExitCode() != report.ExitPassed || !s.Passed() {
		t.Errorf("skipped = %q, exit %d, passed %v", s.Skipped, run.ExitCode(), s.Passed())
	}
	if len(j.Lines()) != 0 {
		t.Errorf("something ran: %q", j.Lines())
	}
	for _, st := range append(s.Steps, s.Cleanup...) {
		if st.Status != report.Skipped || st.Message != why {
			t.Errorf("step %s: %s %q", st.Name, st.Status, st.Message)
		}
	}
	if len(s.Checks) != 1 || s.Checks[0].Status != report.Skipped {
		t.Errorf("checks = %+v", s.Checks[0])
	}
	if s.Versions["patroni"] != "3.0.2" || s.Versions["postgres"] != "15.4" {
		t.Errorf("versions = %v", s.Versions)
	}
	for _, want := range []string{"SKIPPED needs-4: " + why, "0 of 1 scenarios passed, 1 skipped (requires not met) in"} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q:\n%s", want, console)
		}
	}

	var junit bytes.Buffer
	if err := report.WriteJUnit(&junit, run, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`skipped="3"`, `failures="0" errors="0"`, `<skipped message="` + strings.ReplaceAll(why, ">", "&gt;") + `"></skipped>`, "=== skipped: " + why} {
		if !strings.Contains(junit.String(), want) {
			t.Errorf("JUnit lacks %q:\n%s", want, junit.String())
		}
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js, run, nil); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ExitCode  int `json:"exit_code"`
		Scenarios []struct {
			Skipped  string            `json:"skipped"`
			Versions map[string]string `json:"versions"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ExitCode != 0 || doc.Scenarios[0].Skipped != why || doc.Scenarios[0].Versions["patroni"] != "3.0.2" {
		t.Errorf("JSON = %s", js.String())
	}
}

func TestRequiresMetRunsTheScenario(t *testing.T) {
	t.Parallel()
	url := patroniAt(t, "4.0.7", 170002)
	run, _, j := runRequires(t, "needs-4-met", url, `{patroni: ">= 3.2", postgres: ">= 16"}`)
	s := run.Scenarios[0]
	if s.Skipped != "" || run.ExitCode() != 0 || strings.Join(j.Lines(), ",") != "note ran,note cleaned" {
		t.Errorf("skipped %q, exit %d, journal %q", s.Skipped, run.ExitCode(), j.Lines())
	}
	if ev := s.Events[1]; ev.Type != "requires" || ev.Message != "met: the cluster runs Patroni 4.0.7, PostgreSQL 17.2" {
		t.Errorf("event = %+v", ev)
	}
}

func TestRequiresUnreadableIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "starting")
	}))
	t.Cleanup(srv.Close)
	run, console, j := runRequires(t, "needs-unknown", srv.URL, `{patroni: ">= 3.2"}`)
	s := run.Scenarios[0]
	want := "requires: could not read the cluster's versions from GET /patroni: patroni: GET " + srv.URL + "/patroni: HTTP 503 Service Unavailable: starting"
	if s.Error != want || run.ExitCode() != report.ExitError || len(j.Lines()) != 0 {
		t.Errorf("error = %q\nwant    %q\nexit %d, journal %q", s.Error, want, run.ExitCode(), j.Lines())
	}
	if !strings.Contains(console, "ERROR needs-unknown: "+want) {
		t.Errorf("console:\n%s", console)
	}
}

// TestRequiresUnmetUnderRepeat: under --repeat, a scenario whose requires
// are unmet skips every run and its checks over the runs too: the run
// passes, rather than failing a distribution nothing measured.
func TestRequiresUnmetUnderRepeat(t *testing.T) {
	t.Parallel()
	url := patroniAt(t, "3.0.2", 150004)
	src := fmt.Sprintf("name: repeat-needs-4\nrequires: {patroni: \">= 4\"}\ncluster: {patroni: [%s]}\nsteps:\n  - {id: m, kind: test.measure, values: [1]}\nchecks:\n  - max(m.value) < 5\n", url)
	l, err := runner.LoadScenario("repeat-needs-4.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := runner.Run(ctx, []*runner.Loaded{l}, runner.Options{StateDir: t.TempDir(), Repeat: 2})
	if len(run.Series) != 1 || len(run.Series[0].Checks) != 1 {
		t.Fatalf("series %+v", run.Series)
	}
	c := run.Series[0].Checks[0]
	if c.Status != report.Skipped || c.Message != "needs Patroni >= 4, the cluster runs 3.0.2" || run.ExitCode() != report.ExitPassed {
		t.Errorf("the check over the runs: %s %q; exit %d", c.Status, c.Message, run.ExitCode())
	}
}
