//go:build testbed

// The tests of `drill status` and `drill monitor` against the real test bed
// (examples/testbed, compose project drill-testbed), run by the end-to-end
// stage with the bed up:
//
//	examples/testbed/up && go test -tags testbed -count=1 -v ./internal/clusterview/
//
// They build the drill binary and call it as a user does; the monitor test
// drives it in a real terminal with tmux. Every fault they inject (docker
// stop, docker pause) is undone in t.Cleanup, which then waits until the
// cluster is healthy again. They hold an exclusive lock on
// $TMPDIR/drill-testbed.lock while they touch the bed, so that the tests of
// this package never break the bed under each other.

package clusterview_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/clusterview"
)

const (
	project      = "drill-testbed"
	healthyWait  = 3 * time.Minute
	failoverWait = 2 * time.Minute
	callTimeout  = time.Second
	// monitorCallTimeout bounds each of drill monitor's probes: a member is
	// OFFLINE only when it fails, not because a shared CI runner took more
	// than 1 s to answer a SQL probe.
	monitorCallTimeout = 5 * time.Second
)

var drillBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "drill-clusterview-testbed-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	drillBin = filepath.Join(dir, "drill")
	build := exec.Command("go", "build", "-o", drillBin, "github.com/drill-dev/drill/cmd/drill")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: build drill:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockTestbed holds the test bed for this test: an exclusive flock that
// the other testbed tests of this package take too.
func lockTestbed(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "drill-testbed.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("waiting for the test bed lock %s", f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// run runs a command and returns its stdout, stderr and exit code.
func run(t *testing.T, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

func docker(t *testing.T, args ...string) {
	t.Helper()
	if out, errOut, code := run(t, "docker", args...); code != 0 {
		t.Fatalf("docker %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
	}
}

func container(member string) string { return project + "-" + member }

// status runs `drill status --json` and returns the snapshot and how long
// the command took.
func status(t *testing.T) (clusterview.Snapshot, time.Duration) {
	t.Helper()
	start := time.Now()
	out, errOut, code := run(t, drillBin, "status", "--json", "--compose-project", project, "--call-timeout", callTimeout.String())
	took := time.Since(start)
	var s clusterview.Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("drill status --json (exit %d): %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
	}
	if code != 0 {
		t.Logf("drill status exited %d: %s", code, errOut)
	}
	return s, took
}

// healthy says what keeps s from being a healthy 3-member cluster ("" when
// nothing): 3 members listed and ONLINE, one leader that is the only SQL
// primary, replicas streaming with a lag under 1 MB measured on the leader.
func healthy(s clusterview.Snapshot) string {
	switch {
	case s.Listed != 3 || s.Online != 3:
		return fmt.Sprintf("%d members listed, %d online", s.Listed, s.Online)
	case s.Leader == "":
		return "no leader"
	case !slices.Equal(s.Primaries, []string{s.Leader}):
		return fmt.Sprintf("primaries %v, leader %s", s.Primaries, s.Leader)
	}
	for _, m := range s.Members {
		if m.Name == s.Leader {
			continue
		}
		if m.Replication != "streaming" || m.Lag == nil || m.Lag.Source != clusterview.LagFromReplication || m.Lag.Bytes >= clusterview.DefaultLagThreshold {
			return fmt.Sprintf("%s: replication %q, lag %+v", m.Name, m.Replication, m.Lag)
		}
	}
	return ""
}

// waitHealthy waits until the cluster is healthy and returns its snapshot.
func waitHealthy(t *testing.T) clusterview.Snapshot {
	t.Helper()
	deadline := time.Now().Add(healthyWait)
	for {
		s, _ := status(t)
		why := healthy(s)
		if why == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test bed is not healthy after %s: %s (is it up? examples/testbed/up)", healthyWait, why)
		}
		time.Sleep(time.Second)
	}
}

// aReplica returns a member that is not the leader.
func aReplica(t *testing.T, s clusterview.Snapshot) string {
	t.Helper()
	for _, m := range s.Members {
		if m.Name != s.Leader {
			return m.Name
		}
	}
	t.Fatalf("no replica in %+v", s.Members)
	return ""
}

func TestTestbedStatusHealthy(t *testing.T) {
	lockTestbed(t)
	s := waitHealthy(t)
	if s.Scope != "fileshare-cluster" {
		t.Errorf("scope %q", s.Scope)
	}
	leaders := 0
	for _, m := range s.Members {
		if m.Role == "leader" {
			leaders++
		}
		if m.Connections == nil || !strings.HasPrefix(m.TimelineSource, "sql:") || !strings.HasPrefix(m.ServerVersion, "15.") {
			t.Errorf("%s: connections %v, timeline from %q, version %q", m.Name, m.Connections, m.TimelineSource, m.ServerVersion)
		}
	}
	if leaders != 1 {
		t.Errorf("%d members with the leader role", leaders)
	}
	if c := s.Config; c == nil || c.TTL == nil || c.LoopWait == nil || c.RetryTimeout == nil {
		t.Errorf("Patroni settings %+v", c)
	}
	out, errOut, code := run(t, drillBin, "status", "--compose-project", project)
	if code != 0 || strings.Count(out, "● ONLINE") != 3 || !strings.Contains(out, "Leader "+s.Leader) || !strings.Contains(out, "pg_stat_replication") {
		t.Errorf("drill status: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("drill status:\n%s", out)
}

// TestTestbedStatusFaults: a replica stopped or frozen shows as OFFLINE
// with the reason, and status still answers within its bound.
func TestTestbedStatusFaults(t *testing.T) {
	noAnswer := "no answer within " + callTimeout.String()
	for _, tt := range []struct {
		name, fault, undo string
		reasons           []string
	}{
		{"stopped", "stop", "start", []string{"container exited", "REST: connection refused", "SQL: connection refused"}},
		{"paused", "pause", "unpause", []string{"container paused", "REST: " + noAnswer, "SQL: " + noAnswer}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lockTestbed(t)
			victim := aReplica(t, waitHealthy(t))
			t.Cleanup(func() {
				docker(t, tt.undo, container(victim))
				waitHealthy(t)
			})
			docker(t, tt.fault, container(victim))

			s, took := status(t)
			m := member(t, s, victim)
			for _, r := range tt.reasons {
				if m.Online || !strings.Contains(m.Reason, r) {
					t.Errorf("%s %s: online %v, reason %q does not say %q", tt.name, victim, m.Online, m.Reason, r)
				}
			}
			if s.Online != 2 || s.Leader == "" || s.Leader == victim {
				t.Errorf("with a replica %s: %d online, leader %q", tt.name, s.Online, s.Leader)
			}
			// Two rounds of calls at most, plus starting the binary and discovery.
			if bound := 2*callTimeout + 3*time.Second; took > bound {
				t.Errorf("drill status took %s with a member %s, more than %s", took, tt.name, bound)
			}
			t.Logf("drill status took %s; %s: %s", took, victim, m.Reason)
		})
	}
}

// tmux drives a shell in a detached tmux session of a fixed size.
type tmux struct {
	t       *testing.T
	session string
}

const prompt = "drill-test$ "

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("the monitor test needs tmux (apt-get install tmux)")
	}
	tm := &tmux{t: t, session: fmt.Sprintf("drill-monitor-%d", os.Getpid())}
	run(t, "tmux", "kill-session", "-t", tm.session) // a leftover of an earlier run
	if out, errOut, code := run(t, "tmux", "new-session", "-d", "-s", tm.session, "-x", "140", "-y", "50",
		"env", "PS1="+prompt, "TERM=xterm-256color", "bash", "--norc", "--noprofile"); code != 0 {
		t.Fatalf("tmux new-session: %s%s", out, errOut)
	}
	t.Cleanup(func() { run(t, "tmux", "kill-session", "-t", tm.session) })
	return tm
}

func (tm *tmux) send(keys ...string) {
	tm.t.Helper()
	if out, errOut, code := run(tm.t, "tmux", append([]string{"send-keys", "-t", tm.session}, keys...)...); code != 0 {
		tm.t.Fatalf("tmux send-keys: %s%s", out, errOut)
	}
}

func (tm *tmux) screen() string {
	out, _, _ := run(tm.t, "tmux", "capture-pane", "-p", "-t", tm.session)
	return out
}

func (tm *tmux) display(format string) string {
	out, _, _ := run(tm.t, "tmux", "display-message", "-p", "-t", tm.session, format)
	return strings.TrimSpace(out)
}

// waitFor polls the screen until ok holds and returns that screen.
func (tm *tmux) waitFor(what string, timeout time.Duration, ok func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := tm.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("waited %s for %s; the screen:\n%s", timeout, what, s)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestTestbedMonitorFailover runs drill monitor in a terminal, stops the
// leader's container, and checks that the screen shows the old leader
// OFFLINE and the leader change in the event log, then that q restores the
// terminal (shell prompt back, alternate screen off) and prints the log.
// With DRILL_MONITOR_CAPTURE=FILE the screen during the failover is saved.
func TestTestbedMonitorFailover(t *testing.T) {
	lockTestbed(t)
	old := waitHealthy(t).Leader
	tm := newTmux(t)
	tm.waitFor("the shell prompt", 10*time.Second, func(s string) bool { return strings.Contains(s, strings.TrimSpace(prompt)) })
	tm.send(drillBin+" monitor --compose-project "+project+" --interval 1s --call-timeout "+monitorCallTimeout.String(), "Enter")
	tm.waitFor("3 members ONLINE", 30*time.Second, func(s string) bool {
		return strings.Count(s, "● ONLINE") == 3 && strings.Contains(s, "Leader "+old)
	})
	if got := tm.display("#{alternate_on}"); got != "1" {
		t.Errorf("monitor does not use the alternate screen: alternate_on=%q", got)
	}

	t.Cleanup(func() {
		docker(t, "start", container(old))
		waitHealthy(t)
	})
	stopped := time.Now()
	docker(t, "stop", container(old))

	changed := regexp.MustCompile(`leader changed ` + regexp.QuoteMeta(old) + ` → (\S+)|leader elected: (\S+)`)
	offline := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(old) + `\s+○ OFFLINE`)
	screen := tm.waitFor("the old leader OFFLINE, the leader change and the new timeline", failoverWait, func(s string) bool {
		return offline.MatchString(s) && changed.MatchString(s) && strings.Contains(s, old+" went OFFLINE") && strings.Contains(s, "timeline changed")
	})
	t.Logf("the failover was on the screen %s after docker stop:\n%s", time.Since(stopped).Round(100*time.Millisecond), screen)
	if path := os.Getenv("DRILL_MONITOR_CAPTURE"); path != "" {
		if err := os.WriteFile(path, []byte(screen), 0o644); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(screen, "no leader (was "+old+")") && !strings.Contains(screen, "leader changed "+old+" → ") {
		t.Errorf("the event log does not say that %s lost the leader key:\n%s", old, screen)
	}

	tm.send("q")
	after := tm.waitFor("the shell prompt after q", 10*time.Second, func(s string) bool {
		lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
		return strings.TrimSpace(lines[len(lines)-1]) == strings.TrimSpace(prompt)
	})
	if got := tm.display("#{alternate_on}"); got != "0" {
		t.Errorf("the alternate screen is still on after q: alternate_on=%q", got)
	}
	if got := tm.display("#{pane_current_command}"); got != "bash" {
		t.Errorf("after q the pane runs %q, not the shell", got)
	}
	if strings.Contains(after, "MEMBER") || !strings.Contains(after, "drill monitor: ") || !changed.MatchString(after) {
		t.Errorf("after q the terminal should hold the command, the event log and the prompt only:\n%s", after)
	}
}
