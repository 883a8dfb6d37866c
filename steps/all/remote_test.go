package all_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/client/ssh/sshtest"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/steps"
)

// TestComposeOverSSH runs compose faults against the local engine reached
// only through an SSH connection (docker_host: ssh://), as a remote staging
// host would be: the engine's socket is forwarded over a direct-streamlocal
// channel of an in-process SSH server, with no docker CLI anywhere. The
// undo at the end of the run and `drill cleanup` of a kept fault go the
// same way, from what the ledger recorded.
func TestComposeOverSSH(t *testing.T) {
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		t.Skipf("needs the Docker engine's socket at /var/run/docker.sock: %v", err)
	}
	b := startBed(t, faultsCompose, bedMembers)
	p := b.p
	keyFile, pub := sshtest.ClientKey(t)
	srv := sshtest.NewServer(t, pub, "")
	known := sshtest.KnownHosts(t, srv.Addr, srv.HostKey.PublicKey())
	block := fmt.Sprintf("  docker_host: ssh://drill@%s\n  ssh:\n    identity_file: %s\n    known_hosts: %s\n", srv.Addr, keyFile, known)
	run := func(t *testing.T, body string) (*report.Scenario, string) {
		t.Helper()
		src := fmt.Sprintf("name: %s\n%s%s%s", t.Name(), b.clusterBlock(), block, body)
		l, err := runner.LoadScenario("drill.yaml", []byte(src), nil, map[string]bool{})
		if err != nil {
			t.Fatalf("load:\n%v\n%s", err, src)
		}
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		return runner.Run(ctx, []*runner.Loaded{l}, runner.Options{StateDir: dir}).Scenarios[0], dir
	}

	t.Run("pause through ssh, undone at the end", func(t *testing.T) {
		hook(t, "paused-ssh", func(ctx context.Context) error {
			if s := inspect(t, p, tb); !s.Paused {
				t.Errorf("b after compose.pause over ssh: %s, want paused", s)
			}
			if srv.Conns() == 0 {
				t.Error("the SSH server saw no connection: the engine was not reached through it")
			}
			return nil
		})
		sc, _ := run(t, `steps:
  - kind: compose.pause
    target: b
  - kind: test.hook
    call: paused-ssh
`)
		passed(t, sc)
		undos(t, sc, "pause container "+inspect(t, p, tb).Name+" (service b, member b, a replica)")
		if s := inspect(t, p, tb); s.Paused {
			t.Errorf("b after the run: %s, want unpaused", s)
		}
	})

	t.Run("kept fault, drill cleanup over ssh", func(t *testing.T) {
		sc, dir := run(t, `steps:
  - kind: compose.pause
    target: b
    keep: true
`)
		passed(t, sc)
		pending, err := fault.Pending(dir)
		if err != nil || len(pending) != 1 {
			t.Fatalf("ledger after a kept fault: %v %+v, want one entry", err, pending)
		}
		if args := string(pending[0].Args); !strings.Contains(args, `"docker_host":"ssh://drill@`+srv.Addr+`"`) {
			t.Errorf("ledger args %s do not name the ssh docker_host", args)
		}
		srv.Drop() // cleanup must connect again from the ledger alone
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ports := steps.NewPorts(nil, nil)
		defer ports.Close()
		done, err := runner.Cleanup(ctx, dir, ports)
		if err != nil || len(done) != 1 || done[0].Status != report.Passed {
			t.Fatalf("cleanup: %v %+v", err, done)
		}
		if s := inspect(t, p, tb); s.Paused {
			t.Errorf("b after drill cleanup: %s, want unpaused", s)
		}
	})
}
