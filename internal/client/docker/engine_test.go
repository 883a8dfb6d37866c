package docker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/client/docker/dockertest"
	"github.com/drill-dev/drill/internal/signal"
)

// The test project: tools has iptables/tc/ip and NET_ADMIN (NetRun execs), bare is FROM scratch
// with only the probe (NetRun needs a helper), noadmin has the tools but not NET_ADMIN
// (privileged exec, or a helper where the engine refuses that), worker is scaled to two and sits
// on two networks.
const composeFile = `version: "2.4"
services:
  tools:
    image: %[2]s
    cap_add: [NET_ADMIN]
    networks: [cluster]
  bare:
    image: %[1]s
    networks: [cluster]
  noadmin:
    image: %[2]s
    networks: [cluster]
  worker:
    image: %[1]s
    scale: 2
    networks: [cluster, side]
networks:
  cluster: {}
  side: {}
`

var (
	tools   = docker.Target{Service: "tools"}
	bare    = docker.Target{Service: "bare"}
	noadmin = docker.Target{Service: "noadmin"}
	worker1 = docker.Target{Service: "worker", Number: 1}
	worker2 = docker.Target{Service: "worker", Number: 2}
)

func mustInspect(t *testing.T, p *docker.Project, tg docker.Target) docker.State {
	t.Helper()
	s, err := p.Inspect(dockertest.Context(t, 10*time.Second), tg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error:\n got %q\nwant %q", err.Error(), want)
	}
}

func wantErrContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}

func TestEngine(t *testing.T) {
	e, p, _ := dockertest.Start(t, composeFile)
	ctx := dockertest.Context(t, 5*time.Minute)
	name := p.Name()

	t.Run("discovery", func(t *testing.T) {
		projects, err := e.Projects(ctx)
		if err != nil || !slices.Contains(projects, name) {
			t.Fatalf("Projects = %v, %v; want %s among them", projects, err, name)
		}
		services, err := p.Services(ctx)
		if err != nil || !slices.Equal(services, []string{"bare", "noadmin", "tools", "worker"}) {
			t.Fatalf("Services = %v, %v", services, err)
		}
		_, err = e.Project(ctx, "no-such-project")
		wantErrContains(t, err, `no compose project "no-such-project" on this Docker Engine (projects: `)
		wantErrContains(t, err, name)
		if !errors.Is(err, docker.ErrNotFound) {
			t.Errorf("%v is not ErrNotFound", err)
		}
	})

	t.Run("unknown names", func(t *testing.T) {
		_, err := p.Inspect(ctx, docker.Target{Service: "postgres-mastr"})
		wantErr(t, err, fmt.Sprintf(`no container for service "postgres-mastr" in compose project %q (services: bare, noadmin, tools, worker)`, name))
		if !errors.Is(err, docker.ErrNotFound) {
			t.Errorf("%v is not ErrNotFound", err)
		}
		_, err = p.Inspect(ctx, docker.Target{Service: "worker"})
		wantErr(t, err, fmt.Sprintf(`service "worker" in compose project %q has 2 containers (numbers: 1, 2): name one, e.g. worker#1`, name))
		_, err = p.Inspect(ctx, docker.Target{Service: "worker", Number: 3})
		wantErr(t, err, fmt.Sprintf(`no container number 3 for service "worker" in compose project %q (numbers: 1, 2)`, name))
		_, err = p.Network(ctx, "clustr")
		wantErr(t, err, fmt.Sprintf(`no network "clustr" in compose project %q (networks: cluster, side)`, name))
		err = p.Disconnect(ctx, tools, "clustr")
		wantErr(t, err, fmt.Sprintf(`no network "clustr" in compose project %q (networks: cluster, side)`, name))
	})

	t.Run("calls logged at debug", func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		e2, err := docker.Connect(ctx, docker.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer e2.Close()
		p2, err := e2.Project(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p2.Inspect(ctx, tools); err != nil {
			t.Fatal(err)
		}
		if _, err := p2.Exec(ctx, tools, []string{"/probe", "version"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := p2.Logs(ctx, tools, time.Time{}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range []string{
			fmt.Sprintf(`level=DEBUG msg="docker inspect" project=%s target=tools container=%s_tools_1`, name, name),
			fmt.Sprintf(`level=DEBUG msg="docker exec" project=%s target=tools container=%s_tools_1 argv="[/probe version]" privileged=false`, name, name),
			fmt.Sprintf(`level=DEBUG msg="docker logs" project=%s target=tools container=%s_tools_1 since=""`, name, name),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the log lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("refuses containers outside the project", func(t *testing.T) {
		unlabelled := runLoose(t, "--label", "purpose=drill-test")
		_, err := p.TargetOf(ctx, unlabelled)
		wantErr(t, err, fmt.Sprintf(`refusing container %q: it is not part of compose project %q (it has no compose labels); drill only touches the declared project`, unlabelled, name))
		other := runLoose(t, "--label", docker.LabelProject+"=someone-else", "--label", docker.LabelService+"=tools")
		_, err = p.TargetOf(ctx, other)
		wantErr(t, err, fmt.Sprintf(`refusing container %q: it belongs to compose project "someone-else", not %q; drill only touches the declared project`, other, name))
		if !errors.Is(err, docker.ErrOutsideProject) {
			t.Errorf("%v is not ErrOutsideProject", err)
		}
		oneoff := runLoose(t, "--label", docker.LabelProject+"="+name, "--label", docker.LabelService+"=tools", "--label", docker.LabelOneoff+"=True")
		_, err = p.TargetOf(ctx, oneoff)
		wantErr(t, err, fmt.Sprintf(`refusing container %q: it is a one-off container of compose project %q (compose run), not one of its services; drill only touches service containers`, oneoff, name))
		// Neither another project's container with the same service name nor a one-off
		// container is ever picked by label.
		if s := mustInspect(t, p, tools); s.Name != name+"_tools_1" {
			t.Errorf("tools resolved to %s", s.Name)
		}
		got, err := p.TargetOf(ctx, name+"_worker_2")
		if err != nil || got != worker2 {
			t.Errorf("TargetOf(%s_worker_2) = %v, %v; want worker#2", name, got, err)
		}
	})

	t.Run("pause and unpause", func(t *testing.T) {
		before := time.Now()
		eff, err := p.Pause(ctx, worker1)
		if err != nil {
			t.Fatal(err)
		}
		wantEffect(t, "Pause", eff, "pause", before, time.Now())
		if s := mustInspect(t, p, worker1); !s.Paused || s.Status != "paused" {
			t.Fatalf("after Pause: %+v", s)
		}
		addr := name + "_worker_1:7000"
		if dockertest.Reach(t, p, tools, addr)[addr].OK {
			t.Errorf("a paused worker answered")
		}
		_, err = p.Pause(ctx, worker1)
		wantErrContains(t, err, "is already paused")
		for range 2 { // the second one is an undo replayed on a running container
			if err := p.Unpause(ctx, worker1); err != nil {
				t.Fatal(err)
			}
		}
		if s := mustInspect(t, p, worker1); s.Paused || !s.Running {
			t.Fatalf("after Unpause: %+v", s)
		}
		if !dockertest.Reach(t, p, tools, addr)[addr].OK {
			t.Errorf("the unpaused worker does not answer")
		}
	})

	t.Run("kill, start, stop, restart", func(t *testing.T) {
		before := time.Now()
		eff, err := p.Kill(ctx, worker1, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantEffect(t, "Kill", eff, "kill", before, time.Now())
		s := mustInspect(t, p, worker1)
		if s.Running || s.ExitCode != 137 || s.Status != "exited" {
			t.Fatalf("after SIGKILL: %+v, want exited with 137", s)
		}
		_, err = p.Kill(ctx, worker1, 0)
		wantErrContains(t, err, "is not running")
		if err := p.Unpause(ctx, worker1); err != nil { // undo on a stopped container: nothing to do
			t.Fatal(err)
		}
		for range 2 {
			if err := p.Start(ctx, worker1); err != nil {
				t.Fatal(err)
			}
		}
		if s := mustInspect(t, p, worker1); !s.Running {
			t.Fatalf("after Start: %+v", s)
		}
		waitServing(t, p, worker1) // its SIGTERM handler is in place: as PID 1 it ignored SIGTERM before
		term, err := signal.Parse("term")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Kill(ctx, worker1, term); err != nil {
			t.Fatal(err)
		}
		waitExited(t, p, worker1, 0) // the probe exits 0 on SIGTERM: the chosen signal arrived

		if err := p.Start(ctx, worker1); err != nil {
			t.Fatal(err)
		}
		running := mustInspect(t, p, worker1)
		if err := p.Restart(ctx, worker1, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if s := mustInspect(t, p, worker1); !s.Running || !s.StartedAt.After(running.StartedAt) {
			t.Fatalf("after Restart: started %v, before %v", s.StartedAt, running.StartedAt)
		}
		start := time.Now()
		eff, err = p.Stop(ctx, worker1, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wantEffect(t, "Stop", eff, "kill", start, time.Now())
		s = mustInspect(t, p, worker1)
		if s.Running || s.ExitCode != 0 {
			t.Fatalf("after Stop: %+v, want exited with 0 (graceful)", s)
		}
		t.Logf("graceful stop took %v", time.Since(start))
		// Stopping a stopped container succeeds; no event comes, so the
		// fault is dated from the request.
		again := time.Now()
		eff, err = p.Stop(ctx, worker1, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if eff.Event != "" || eff.At.Before(again) || eff.At.After(time.Now().Add(-docker.EventWait)) {
			t.Errorf("Stop of a stopped container: %+v, want no event and the request's time (%v)", eff, again)
		}
		if err := p.Start(ctx, worker1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("disconnect and connect", func(t *testing.T) {
		ep, err := p.Endpoint(ctx, bare, "cluster")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ep.Aliases, "bare") || ep.Network != "cluster" {
			t.Fatalf("Endpoint = %+v, want network cluster with alias bare", ep)
		}
		if !dockertest.Reach(t, p, tools, "bare:7000")["bare:7000"].OK {
			t.Fatal("tools cannot reach bare before the fault")
		}
		if err := p.Disconnect(ctx, bare, "cluster"); err != nil {
			t.Fatal(err)
		}
		if s := mustInspect(t, p, bare); len(s.Networks) != 0 {
			t.Fatalf("after Disconnect bare is on %+v", s.Networks)
		}
		if dockertest.Reach(t, p, tools, "bare:7000")["bare:7000"].OK {
			t.Fatal("tools still reaches bare after Disconnect")
		}
		wantErrContains(t, p.Disconnect(ctx, bare, "cluster"), "is not connected to network")
		for range 2 {
			if err := p.Connect(ctx, bare, ep); err != nil {
				t.Fatal(err)
			}
		}
		s := mustInspect(t, p, bare)
		if len(s.Networks) != 1 || s.Networks[0].Network != "cluster" || s.Networks[0].EngineName != name+"_cluster" ||
			!slices.Contains(s.Networks[0].Aliases, "bare") || !s.Networks[0].IP.IsValid() {
			t.Fatalf("after Connect: %+v", s.Networks)
		}
		if !dockertest.Reach(t, p, tools, "bare:7000")["bare:7000"].OK {
			t.Fatal("tools cannot reach bare by its service name after Connect")
		}

		info, err := p.Network(ctx, "cluster")
		if err != nil {
			t.Fatal(err)
		}
		if info.EngineName != name+"_cluster" || len(info.Subnets) != 1 || !info.Subnets[0].Contains(s.Networks[0].IP) || len(info.Gateways) != 1 {
			t.Fatalf("Network(cluster) = %+v", info)
		}
		w := mustInspect(t, p, worker2)
		if len(w.Networks) != 2 || w.Networks[0].Network != "cluster" || w.Networks[1].Network != "side" {
			t.Fatalf("worker#2 networks: %+v", w.Networks)
		}
	})

	t.Run("net exec", func(t *testing.T) {
		for _, c := range []struct {
			t   docker.Target
			via string
		}{
			{tools, "exec"},
			{bare, "helper image"},
			{noadmin, "exec or own image"}, // own image where the engine refuses privileged exec
		} {
			res, err := p.NetRun(ctx, c.t, []string{"iptables", "-S", "INPUT"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "-P INPUT ACCEPT") {
				t.Errorf("%s: iptables -S INPUT via %s: exit %d, stdout %q, stderr %q", c.t, res.Via, res.ExitCode, res.Stdout, res.Stderr)
			}
			if !slices.Contains(strings.Split(c.via, " or "), res.Via) {
				t.Errorf("%s: ran via %s, want %s", c.t, res.Via, c.via)
			}
			t.Logf("%s: via %s", c.t, res.Via)
		}
		// stdin, both ways
		for _, tg := range []docker.Target{tools, bare, noadmin} {
			out, err := p.NetExec(ctx, tg.String(), []string{"iptables-restore", "--test", "--verbose"}, []byte("*filter\n:DRILLTEST - [0:0]\nCOMMIT\n"))
			if err != nil {
				t.Fatalf("%s: %v", tg, err)
			}
			t.Logf("%s: iptables-restore --test: %q", tg, out)
		}
		_, err := p.NetExec(ctx, "bare", []string{"iptables", "-S", "NO-SUCH-CHAIN"}, nil)
		var exit *docker.ExitError
		if !errors.As(err, &exit) || exit.Code == 0 {
			t.Fatalf("NetExec of a failing command: %v, want an ExitError", err)
		}
		wantErrContains(t, err, `iptables -S NO-SUCH-CHAIN exited 1 in service "bare" (helper image): iptables v1.8`)

		// A paused container has a network namespace but cannot exec: helper.
		if _, err := p.Pause(ctx, tools); err != nil {
			t.Fatal(err)
		}
		res, err := p.NetRun(ctx, tools, []string{"iptables", "-S", "OUTPUT"}, nil)
		if uerr := p.Unpause(ctx, tools); uerr != nil {
			t.Fatal(uerr)
		}
		if err != nil || res.Via != "own image" || res.ExitCode != 0 {
			t.Fatalf("NetRun on a paused container: %+v, %v", res, err)
		}
		if _, err := p.Stop(ctx, worker2, 0); err != nil {
			t.Fatal(err)
		}
		_, err = p.NetExec(ctx, "worker#2", []string{"iptables", "-S"}, nil)
		wantErr(t, err, fmt.Sprintf(`service "worker#2" (container %s_worker_2) in compose project %q is not running: it has no network namespace to run iptables in`, name, name))
		if !errors.Is(err, docker.ErrNoNamespace) {
			t.Errorf("%v is not ErrNoNamespace", err)
		}
		if err := p.Start(ctx, worker2); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("timeouts", func(t *testing.T) {
		for _, run := range []func(context.Context) error{
			func(ctx context.Context) error {
				_, err := p.Exec(ctx, tools, []string{"/probe", "hold", "-for", "20s", "bare:7000"}, nil)
				return err
			},
			func(ctx context.Context) error {
				_, err := p.NetRun(ctx, bare, []string{"/probe", "hold", "-for", "20s", "tools:7000"}, nil)
				return err
			},
		} {
			tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			start := time.Now()
			err := run(tctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want a deadline", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the timeout of 2s took %v", d)
			}
		}
		// Other tests may run helpers right now: look only at those for bare.
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+docker.LabelHelperTarget+"="+mustInspect(t, p, bare).ID).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("helper containers left behind: %q (%v)", out, err)
		}
	})
}

// waitExited waits until tg's container has exited with code.
// waitServing waits until tg's probe answers on port 7000.
func waitServing(t *testing.T, p *docker.Project, tg docker.Target) {
	t.Helper()
	var s docker.State
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		if s = mustInspect(t, p, tg); len(s.Networks) > 0 && dockertest.FromHost(s.Networks[0].IP) {
			return
		}
	}
	t.Fatalf("%s: %+v does not answer on port 7000", tg, s)
}

func waitExited(t *testing.T, p *docker.Project, tg docker.Target, code int) {
	t.Helper()
	var s docker.State
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if s = mustInspect(t, p, tg); !s.Running {
			break
		}
	}
	if s.Running || s.ExitCode != code {
		t.Fatalf("%s: %+v, want exited with %d", tg, s, code)
	}
}

// runLoose starts a probe container that is not part of the test project; it is removed at cleanup.
func runLoose(t *testing.T, args ...string) string {
	t.Helper()
	imgs := dockertest.BuildImages(t)
	name := fmt.Sprintf("drill-loose-%d", time.Now().UnixNano())
	cmdArgs := append(append([]string{"run", "-d", "--name", name}, args...), imgs.Probe)
	if out, err := exec.Command("docker", cmdArgs...).CombinedOutput(); err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	return name
}

// wantEffect checks that a fault was dated by the engine's event named
// event, at a time between from and to.
func wantEffect(t *testing.T, op string, eff docker.Effect, event string, from, to time.Time) {
	t.Helper()
	if eff.Event != event || eff.At.Before(from) || eff.At.After(to) {
		t.Errorf("%s took effect %+v, want the engine's %q event between %v and %v", op, eff, event, from, to)
	}
}
