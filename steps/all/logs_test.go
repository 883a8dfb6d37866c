package all_test

import (
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
)

// TestExecAndLogs runs member.exec, log.wait and log.absent against real
// containers: the probe logs "probe: listening on :7000" when it starts and
// "probe: stopping on terminated" on SIGTERM.
func TestExecAndLogs(t *testing.T) {
	b := startBed(t, faultsCompose, bedMembers)

	t.Run("exec", func(t *testing.T) {
		sc, _ := b.run(t, `steps:
  - id: dial
    kind: member.exec
    target: member:b
    command: [/probe, dial, -timeout, 2s, "c:7000"]
  - id: refused
    kind: member.exec
    target: b
    command: [/probe, dial, -timeout, 500ms, "127.0.0.1:1"]
    expect_exit: 1
checks:
  - dial.exit_code == 0 && dial.member == "b"
  - refused.exit_code == 1
`)
		passed(t, sc)
		if out, _ := metricOf(sc, "dial", "stdout"); !strings.HasPrefix(out.(string), "ok c:7000") {
			t.Errorf("dial.stdout = %q, want ok c:7000 ...", out)
		}
	})

	t.Run("exec fails on an unexpected exit", func(t *testing.T) {
		sc, _ := b.run(t, `steps:
  - kind: member.exec
    target: b
    command: [/probe, dial, -timeout, 500ms, "127.0.0.1:1"]
`)
		if len(sc.Steps) != 1 || sc.Steps[0].Status != report.Error || !strings.Contains(sc.Steps[0].Message, "/probe exited with 1, expected 0: fail 127.0.0.1:1") {
			t.Errorf("step: %+v, want an error naming the exit status and the output", sc.Steps[0])
		}
	})

	t.Run("log.wait and log.absent after a restart", func(t *testing.T) {
		sc, _ := b.run(t, `steps:
  - id: restart
    kind: compose.restart
    target: b
    grace: 5s
  - id: up
    kind: log.wait
    target: b
    after: restart
    pattern: 'listening on :(?P<port>\d+)'
  - id: stop
    kind: log.wait
    target: b
    after: restart
    pattern: 'stopping on (?P<sig>\w+)'
  - id: quiet
    kind: log.absent
    target: b
    after: restart
    pattern: 'unknown mode|address already in use'
checks:
  - up.port == "7000" && stop.sig == "terminated"
  - up.after_s >= 0 && up.after_s < 30 && up.matched_at >= stop.matched_at
  - quiet.matches == 0
`)
		passed(t, sc)
		faultAt, _ := metricOf(sc, "restart", "fault_at")
		matched, _ := metricOf(sc, "up", "matched_at")
		if fa, ok := faultAt.(time.Time); !ok || matched.(time.Time).Before(fa) {
			t.Errorf("the line dated %v, before the restart at %v", matched, faultAt)
		}
	})

	t.Run("log.absent fails on a line that appeared", func(t *testing.T) {
		sc, _ := b.run(t, `steps:
  - id: restart
    kind: compose.restart
    target: b
    grace: 5s
  - kind: log.wait
    target: b
    after: restart
    pattern: listening
  - kind: log.absent
    target: b
    after: restart
    pattern: stopping on
`)
		last := sc.Steps[len(sc.Steps)-1]
		if last.Status != report.Error || !strings.Contains(last.Message, `logged 1 lines matching "stopping on" in the window`) {
			t.Errorf("log.absent: %s %s, want an error for the one stopping line", last.Status, last.Message)
		}
	})
}
