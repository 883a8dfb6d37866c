//go:build testbed

package all_test

// Tests of patroni.tags and patroni.restart against the compose test bed
// (examples/testbed, up and healthy; scripts/e2e runs them). They change a
// member's patroni.yml and restart PostgreSQL on a replica, and leave the bed
// as they found it: that is what they check.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/steps"
)

var tagsBed = map[string]int{"postgres-master": 18008, "postgres-standby1": 18009, "postgres-standby2": 18010}

const bedConfig = "/etc/patroni/patroni.yml"

// inMember runs a shell line in a member's container, as root.
func inMember(t *testing.T, member, script string) string {
	t.Helper()
	out, err := exec.Command("docker", "exec", "drill-testbed-"+member, "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("docker exec %s %q: %v: %s", member, script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// psqlIn runs one query with psql in a member's container (database
// fileshare; unaligned, tuples only, fields separated by a space) and
// returns its output. It does not touch t, so a hook may call it from the
// runner's goroutine.
func psqlIn(ctx context.Context, member, query string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", "exec", "drill-testbed-"+member, "sh", "-c",
		`PGPASSWORD=postgres psql -U postgres -h 127.0.0.1 -d fileshare -AtF ' ' -c "`+query+`"`).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql in %s: %q: %w: %s", member, query, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// countIn is a query's single integer answer in a member.
func countIn(t *testing.T, member, query string) int {
	t.Helper()
	out, err := psqlIn(t.Context(), member, query)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("%s in %s: %q is not a number", query, member, out)
	}
	return n
}

// runIDOf is the run id writer.start logged ("writer NAME (run ID) ...").
func runIDOf(t *testing.T, startLog string) string {
	t.Helper()
	m := regexp.MustCompile(`\(run ([^)]+)\)`).FindStringSubmatch(startLog)
	if m == nil {
		t.Fatalf("no run id in writer.start's log:\n%s", startLog)
	}
	return m[1]
}

// sums is the sha256 of every member's patroni.yml.
func sums(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for m := range tagsBed {
		out[m] = inMember(t, m, "sha256sum "+bedConfig+" | cut -d' ' -f1")
	}
	return out
}

// backups lists the drill backups left beside a member's patroni.yml.
func backups(t *testing.T, member string) string {
	t.Helper()
	return inMember(t, member, "ls "+bedConfig+".drill-* 2>/dev/null || true")
}

// memberStatus is a member's GET /patroni.
func memberStatus(t *testing.T, member string) map[string]any {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/patroni", tagsBed[member]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// runDrill runs a drill file (or YAML text, given a name) on the bed.
func runDrill(t *testing.T, file, src, stateDir string) *report.Scenario {
	t.Helper()
	var l *runner.Loaded
	var err error
	if src == "" {
		var ls []*runner.Loaded
		ls, err = runner.Load([]string{file}, nil)
		if err == nil {
			l = ls[0]
		}
	} else {
		l, err = runner.LoadScenario(file, []byte(src), nil, map[string]bool{})
	}
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := runner.Run(ctx, []*runner.Loaded{l}, runner.Options{StateDir: stateDir})
	s := run.Scenarios[0]
	for _, st := range append(s.Steps, s.Cleanup...) {
		t.Logf("%-8s %s: %s\n%s", st.Status, st.Name, st.Message, st.Log)
	}
	for _, c := range s.Checks {
		t.Logf("check %s: %s %s", c.Name, c.Status, c.Message)
	}
	return s
}

// sample is what step recorded as name.
func sample(s *report.Scenario, step, name string) (any, bool) {
	var v any
	found := false
	for _, m := range s.Metrics {
		if m.Step == step && m.Name == name {
			v, found = m.Value, true
		}
	}
	return v, found
}

func testbedFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "examples", "testbed", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTagsNofailoverOnTheBed: the shipped drill sets nofailover on a replica,
// patronictl lists it, a switchover to it is refused, and the file comes
// back byte for byte.
func TestTagsNofailoverOnTheBed(t *testing.T) {
	before := sums(t)
	s := runDrill(t, testbedFile(t, "drills/tags-nofailover.yaml"), "", t.TempDir())
	if !s.Passed() || len(s.Undo) != 1 || s.Undo[0].Status != report.Passed {
		t.Fatalf("the drill did not pass: aborted %q, undo %+v", s.Aborted, s.Undo)
	}
	member, _ := sample(s, "tag", "member")
	tags, _ := sample(s, "tag", "tags")
	if tm, ok := tags.(map[string]any); !ok || tm["nofailover"] != true || tm["zone"] != "drill" {
		t.Errorf("tags = %v", tags)
	}
	rows, _ := sample(s, "cli", "json")
	found := false
	for _, r := range rows.([]any) {
		row := r.(map[string]any)
		if row["Member"] == member {
			found = true
			if tg, _ := row["Tags"].(map[string]any); tg["nofailover"] != true {
				t.Errorf("patronictl list row of %v: %v", member, row)
			}
		}
	}
	if !found {
		t.Errorf("patronictl list has no row for %v: %v", member, rows)
	}
	if after := sums(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("patroni.yml not restored:\nbefore %v\nafter  %v", before, after)
	}
	if b := backups(t, member.(string)); b != "" {
		t.Errorf("backups left: %s", b)
	}
	waitTags(t, member.(string), func(tags map[string]any) bool { return tags["nofailover"] == nil && tags["zone"] == nil })
}

// waitTags waits until the member's GET /patroni tags satisfy ok.
func waitTags(t *testing.T, member string, ok func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		tags, _ := memberStatus(t, member)["tags"].(map[string]any)
		if ok(tags) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still reports tags %v", member, tags)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestTagsKeptAndCleanedUp: a change kept at the end of the run is undone
// by drill cleanup from the ledger alone (no cluster block, no scenario).
func TestTagsKeptAndCleanedUp(t *testing.T) {
	const member = "postgres-standby2"
	before := sums(t)
	dir := t.TempDir()
	cluster := testbedFile(t, "cluster.yaml")
	s := runDrill(t, "keep-tags.yaml", fmt.Sprintf(`name: keep tags
cluster: %s
steps:
  - id: tag
    kind: patroni.tags
    target: member:%s
    set: {nosync: true, failover_priority: 3}
    clear: [clonefrom]
    keep: true
`, cluster, member), dir)
	if !s.Passed() || len(s.Undo) != 1 {
		t.Fatalf("the drill did not pass: %q, undo %+v", s.Aborted, s.Undo)
	}
	if after := sums(t); after[member] == before[member] {
		t.Fatalf("patroni.yml of %s did not change", member)
	}
	if b := backups(t, member); !strings.HasPrefix(b, bedConfig+".drill-") || strings.Contains(b, "\n") {
		t.Fatalf("backups = %q, want one", b)
	}
	if st := inMember(t, member, "stat -c '%U:%G %a' "+bedConfig); st != "root:postgres 640" {
		t.Errorf("owner and mode of the changed file = %s", st)
	}
	if text := inMember(t, member, "grep -A10 '^tags:' "+bedConfig); !strings.Contains(text, "nosync: true") || strings.Contains(text, "clonefrom") || !strings.Contains(text, "failover_priority: 3") {
		t.Errorf("tags section:\n%s", text)
	}
	waitTags(t, member, func(tags map[string]any) bool { return tags["nosync"] == true })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	undos, err := runner.Cleanup(ctx, dir, steps.NewPorts(nil, nil))
	if err != nil || len(undos) != 1 || undos[0].Status != report.Passed {
		t.Fatalf("cleanup = %+v, %v", undos, err)
	}
	if after := sums(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("patroni.yml not restored by drill cleanup:\nbefore %v\nafter  %v", before, after)
	}
	if b := backups(t, member); b != "" {
		t.Errorf("backups left: %s", b)
	}
	waitTags(t, member, func(tags map[string]any) bool { return tags["nosync"] == nil && tags["failover_priority"] == nil })
}

// TestRestartPendingOnTheBed: restart_pending leaves a replica without a
// pending restart alone and restarts one with it; the drill puts the
// setting back and restarts again, so no member is left pending.
func TestRestartPendingOnTheBed(t *testing.T) {
	s := runDrill(t, testbedFile(t, "drills/tags-restart-pending.yaml"), "", t.TempDir())
	if !s.Passed() {
		t.Fatalf("the drill did not pass: %q", s.Aborted)
	}
	if v, _ := sample(s, "idle", "restarted"); v != float64(0) {
		t.Errorf("idle.restarted = %v", v)
	}
	if v, _ := sample(s, "pending", "restarted"); v != float64(1) {
		t.Errorf("pending.restarted = %v", v)
	}
	// The drill's undo restores shared_buffers through the DCS; each member
	// applies it, and drops its pending flag, in its next loop.
	deadline := time.Now().Add(time.Minute)
	for {
		var pending []string
		for m := range tagsBed {
			if st := memberStatus(t, m); st["pending_restart"] == true {
				pending = append(pending, m)
			}
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v still report a pending restart a minute after the drill restored the setting", pending)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
