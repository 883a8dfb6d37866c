package all_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/app/runner"
	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/client/docker/dockertest"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/steps"
)

// The test bed: a has iptables and NET_ADMIN (network commands run by exec);
// b, c and s are FROM scratch (network commands run in helper containers of
// the tools image); c is on two networks; s has two containers. Every
// container runs the probe's echo server on port 7000.
const faultsCompose = `version: "2.4"
services:
  a:
    image: %[2]s
    cap_add: [NET_ADMIN]
    networks: [cluster]
  b:
    image: %[1]s
    networks: [cluster]
  c:
    image: %[1]s
    networks: [cluster, side]
  s:
    image: %[1]s
    scale: 2
    networks: [cluster]
networks:
  cluster: {}
  side: {}
`

var (
	ta  = docker.Target{Service: "a", Number: 1}
	tb  = docker.Target{Service: "b", Number: 1}
	tc  = docker.Target{Service: "c", Number: 1}
	ts1 = docker.Target{Service: "s", Number: 1}
	ts2 = docker.Target{Service: "s", Number: 2}
	// every container and the networks it belongs on
	bedNetworks = map[docker.Target][]string{ta: {"cluster"}, tb: {"cluster"}, tc: {"cluster", "side"}, ts1: {"cluster"}, ts2: {"cluster"}}
)

// bed is a running compose project and a fake Patroni REST API.
type bed struct {
	p       *docker.Project
	imgs    dockertest.Images
	patroni string // base URL
}

// bedMembers are the members the fake Patroni's /cluster reports: a is the
// leader, b and c replicas.
const bedMembers = `
	{"name": "a", "role": "leader", "state": "running", "host": "a", "port": 5432, "timeline": 1},
	{"name": "b", "role": "replica", "state": "streaming", "host": "b", "port": 5432, "timeline": 1, "lag": 0},
	{"name": "c", "role": "replica", "state": "streaming", "host": "c", "port": 5432, "timeline": 1, "lag": 0}`

// startBed starts a compose project from composeTemplate and a fake Patroni
// whose /cluster lists members (JSON objects).
func startBed(t *testing.T, composeTemplate, members string) *bed {
	t.Helper()
	_, p, imgs := dockertest.Start(t, composeTemplate)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cluster" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"members": [%s]}`, members)
	}))
	t.Cleanup(srv.Close)
	return &bed{p: p, imgs: imgs, patroni: srv.URL}
}

// clusterBlock is the cluster block of the bed's scenarios.
func (b *bed) clusterBlock() string {
	return fmt.Sprintf("cluster:\n  compose_project: %s\n  helper_image: %s\n  patroni: [%s]\n", b.p.Name(), b.imgs.Tools, b.patroni)
}

// run loads a scenario (name and cluster block added) and runs it with a
// fresh state directory, which it returns.
func (b *bed) run(t *testing.T, body string) (*report.Scenario, string) {
	t.Helper()
	src := fmt.Sprintf("name: %s\n%s%s", t.Name(), b.clusterBlock(), body)
	l, err := runner.LoadScenario("drill.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatalf("load:\n%v\n%s", err, src)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := runner.Run(ctx, []*runner.Loaded{l}, runner.Options{StateDir: dir})
	sc := run.Scenarios[0]
	for _, st := range append(sc.Steps, sc.Cleanup...) {
		t.Logf("step %s %s: %s %s\n%s", st.Kind, st.Name, st.Status, st.Message, st.Log)
	}
	for _, u := range sc.Undo {
		t.Logf("undo %s: %s %s", u.Fault, u.Status, u.Message)
	}
	return sc, dir
}

// The test.hook kind calls back into the test in the middle of a scenario,
// to look at the world while a fault is in place.
func init() {
	steps.Register(steps.Kind{Name: "test.hook", Summary: "call the Go test", New: func() steps.Step { return &hookStep{} }})
}

var (
	hooksMu sync.Mutex
	hooks   = map[string]func(ctx context.Context) error{}
)

type hookStep struct {
	Call string `yaml:"call" required:"true"`
}

func (h *hookStep) Run(ctx context.Context, env *steps.Env) error {
	hooksMu.Lock()
	fn, ok := hooks[h.Call]
	hooksMu.Unlock()
	if !ok {
		return fmt.Errorf("no hook %q", h.Call)
	}
	return fn(ctx)
}

// hook makes `kind: test.hook, call: name` run fn for the rest of the test.
func hook(t *testing.T, name string, fn func(ctx context.Context) error) {
	hooksMu.Lock()
	defer hooksMu.Unlock()
	hooks[name] = fn
	t.Cleanup(func() {
		hooksMu.Lock()
		defer hooksMu.Unlock()
		delete(hooks, name)
	})
}

func inspect(t *testing.T, p *docker.Project, tg docker.Target) docker.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.Inspect(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addr returns tg's address on the cluster network.
func addr(t *testing.T, p *docker.Project, tg docker.Target) netip.Addr {
	t.Helper()
	for _, n := range inspect(t, p, tg).Networks {
		if n.Network == "cluster" {
			return n.IP
		}
	}
	t.Fatalf("%s is not on the cluster network", tg)
	return netip.Addr{}
}

// netState reads drill's rules and qdiscs in tg's network namespace.
func netState(t *testing.T, p *docker.Project, tg docker.Target) netfault.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := netfault.ReadState(ctx, p, tg.String())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertClean checks that the world is as before any fault: every container
// running and on its networks under its service name, no rule or qdisc of
// drill's anywhere, every service reachable by name, and nothing left in
// the ledger of stateDir.
func assertClean(t *testing.T, p *docker.Project, stateDir string, containers map[docker.Target][]string) {
	t.Helper()
	var wg sync.WaitGroup
	for tg, nets := range containers {
		wg.Go(func() {
			s := inspect(t, p, tg)
			if !s.Running || s.Paused {
				t.Errorf("%s is %s, want running", tg, s.Status)
				return
			}
			var got []string
			for _, n := range s.Networks {
				got = append(got, n.Network)
				if !slices.Contains(n.Aliases, tg.Service) {
					t.Errorf("%s on %s: aliases %q lack the service name", tg, n.Network, n.Aliases)
				}
			}
			if !slices.Equal(got, nets) {
				t.Errorf("%s is on networks %q, want %q", tg, got, nets)
			}
			if st := netState(t, p, tg); !st.Clean() {
				t.Errorf("%s still holds drill's rules or qdiscs: %+v", tg, st)
			}
		})
	}
	wg.Wait()
	want := map[string]bool{}
	for tg := range containers {
		if tg != ta {
			want[tg.Service+":7000"] = true
		}
	}
	dockertest.Expect(t, p, ta, want)
	pending, err := fault.Pending(stateDir)
	if err != nil || len(pending) > 0 {
		t.Errorf("ledger of %s: %v, still open: %+v", stateDir, err, pending)
	}
}

// metricOf returns what step recorded under name.
func metricOf(sc *report.Scenario, step, name string) (any, bool) {
	for _, m := range sc.Metrics {
		if m.Step == step && m.Name == name {
			return m.Value, true
		}
	}
	return nil, false
}

// datedBy checks that a container fault step's log says it dated its fault
// from source.
func datedBy(t *testing.T, st *report.Step, source string) {
	t.Helper()
	if !strings.Contains(st.Log, ", dated by "+source+"\n") {
		t.Errorf("step %s's log says no fault dated by %s:\n%s", st.Kind, source, st.Log)
	}
}

// passed fails the test unless the scenario passed with every check true.
func passed(t *testing.T, sc *report.Scenario) {
	t.Helper()
	if !sc.Passed() {
		t.Errorf("scenario did not pass: aborted %q", sc.Aborted)
	}
	for _, c := range sc.Checks {
		if c.Status != report.Passed {
			t.Errorf("check %s: %s %s", c.Expr, c.Status, c.Message)
		}
	}
}

// undos checks the faults the run itself undid: their descriptions' starts
// and that each passed.
func undos(t *testing.T, sc *report.Scenario, want ...string) {
	t.Helper()
	if len(sc.Undo) != len(want) {
		t.Errorf("%d faults undone by the run, want %d: %+v", len(sc.Undo), len(want), sc.Undo)
		return
	}
	for i, u := range sc.Undo {
		if !strings.HasPrefix(u.Fault, want[i]) || u.Status != report.Passed {
			t.Errorf("undo %d: %q %s %s, want %q... passed", i, u.Fault, u.Status, u.Message, want[i])
		}
	}
}

func TestComposeFaults(t *testing.T) {
	b := startBed(t, faultsCompose, bedMembers)
	p := b.p
	name := func(tg docker.Target) string { return inspect(t, p, tg).Name }

	t.Run("stop then start", func(t *testing.T) {
		hook(t, "stopped", func(ctx context.Context) error {
			if s := inspect(t, p, tb); s.Running || s.ExitCode != 0 {
				t.Errorf("b after compose.stop: %s, want exited 0 (the probe exits 0 on SIGTERM)", s)
			}
			return nil
		})
		before := time.Now()
		sc, dir := b.run(t, `steps:
  - id: stop
    kind: compose.stop
    target: b
    grace: 2s
  - kind: test.hook
    call: stopped
  - kind: compose.start
    target: ${stop.service}
checks:
  - stop.service == "b" && stop.member == "b" && stop.leader_before == "a"
  - stop.containers == ["`+name(tb)+`"]
`)
		passed(t, sc)
		undos(t, sc) // compose.start resolved the fault
		at, _ := metricOf(sc, "stop", "fault_at")
		if tm, ok := at.(time.Time); !ok || tm.Before(before) || tm.After(sc.Steps[1].Started) {
			t.Errorf("fault_at = %v, want a time after the run started and before the next step (%v)", at, sc.Steps[1].Started)
		}
		datedBy(t, sc.Steps[0], "the engine's kill event") // the stop signal
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("kill the leader, started again by the run", func(t *testing.T) {
		hook(t, "killed", func(ctx context.Context) error {
			if s := inspect(t, p, ta); s.Running || s.ExitCode != 137 {
				t.Errorf("a after compose.kill: %s, want exit code 137", s)
			}
			return nil
		})
		sc, dir := b.run(t, `steps:
  - id: kill
    kind: compose.kill
    target: leader
  - kind: test.hook
    call: killed
checks:
  - kill.service == "a" && kill.member == "a" && kill.leader_before == "a"
`)
		passed(t, sc)
		undos(t, sc, "kill (SIGKILL) container "+name(ta)+" (service a, member a, the leader)")
		datedBy(t, sc.Steps[0], "the engine's kill event")
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("SIGTERM to one container of a scaled service", func(t *testing.T) {
		hook(t, "termed", func(ctx context.Context) error {
			// kill returns once the signal is sent; the probe exits on it soon after.
			for deadline := time.Now().Add(10 * time.Second); inspect(t, p, ts2).Running && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
			if s := inspect(t, p, ts2); s.Running || s.ExitCode != 0 {
				t.Errorf("s#2 after SIGTERM: %s, want exited 0", s)
			}
			if s := inspect(t, p, ts1); !s.Running {
				t.Errorf("s#1 after SIGTERM to s#2: %s, want running", s)
			}
			return nil
		})
		sc, dir := b.run(t, `steps:
  - id: term
    kind: compose.kill
    target: s
    index: 2
    signal: term
  - kind: test.hook
    call: termed
checks:
  - term.service == "s" && len(term.containers) == 1
`)
		passed(t, sc)
		if _, ok := metricOf(sc, "term", "member"); ok {
			t.Error("member recorded for a service no Patroni member runs")
		}
		undos(t, sc, "kill (SIGTERM) container "+name(ts2)+" (service s)")
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("pause and unpause every container of a service", func(t *testing.T) {
		hook(t, "paused", func(ctx context.Context) error {
			for _, tg := range []docker.Target{ts1, ts2} {
				if s := inspect(t, p, tg); !s.Paused {
					t.Errorf("%s after compose.pause: %s, want paused", tg, s)
				}
			}
			dockertest.Expect(t, p, ta, map[string]bool{"s:7000": false, "b:7000": true})
			return nil
		})
		sc, dir := b.run(t, `steps:
  - id: freeze
    kind: compose.pause
    target: s
  - kind: test.hook
    call: paused
  - kind: compose.unpause
    target: s
checks:
  - len(freeze.containers) == 2
`)
		passed(t, sc)
		undos(t, sc)
		datedBy(t, sc.Steps[0], "the engine's pause event")
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("a group of the cluster block: every service at once, undone by the run", func(t *testing.T) {
		hook(t, "group paused", func(ctx context.Context) error {
			for _, tg := range []docker.Target{tb, ts1, ts2} {
				if s := inspect(t, p, tg); !s.Paused {
					t.Errorf("%s after compose.pause of group pair: %s, want paused", tg, s)
				}
			}
			if s := inspect(t, p, tc); s.Paused {
				t.Errorf("c, outside the group, is paused")
			}
			return nil
		})
		sc, dir := b.run(t, `  groups: {pair: [b, s]}
steps:
  - id: freeze
    kind: compose.pause
    target: pair
  - kind: test.hook
    call: group paused
checks:
  - len(freeze.containers) == 3 && freeze.service == "b,s"
`)
		passed(t, sc)
		undos(t, sc, "pause ", "pause ", "pause ")
		for _, tg := range []docker.Target{tb, ts1, ts2} {
			if s := inspect(t, p, tg); s.Paused || !s.Running {
				t.Errorf("%s after the run: %s, want running", tg, s)
			}
		}
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("restart a replica", func(t *testing.T) {
		started := inspect(t, p, tb).StartedAt
		sc, dir := b.run(t, `steps:
  - id: bounce
    kind: compose.restart
    target: any_replica
    grace: 1s
checks:
  - bounce.service == "b" && bounce.member == "b"
`)
		passed(t, sc)
		undos(t, sc) // the restart resolved its own fault
		if s := inspect(t, p, tb); !s.StartedAt.After(started) {
			t.Errorf("b started at %v, before the restart too", s.StartedAt)
		}
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("keep a pause, then drill cleanup", func(t *testing.T) {
		sc, dir := b.run(t, `steps:
  - kind: compose.pause
    target: c
    keep: true
`)
		passed(t, sc)
		if len(sc.Undo) != 1 || sc.Undo[0].Status != report.Skipped || !strings.Contains(sc.Undo[0].Message, "drill cleanup --state-dir "+dir) {
			t.Errorf("undo of a kept fault: %+v, want skipped with how to undo it", sc.Undo)
		}
		if s := inspect(t, p, tc); !s.Paused {
			t.Errorf("c after a kept pause: %s, want paused", s)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ports := steps.NewPorts(nil, nil)
		defer ports.Close()
		done, err := runner.Cleanup(ctx, dir, ports)
		if err != nil || len(done) != 1 || done[0].Status != report.Passed {
			t.Errorf("cleanup: %v %+v", err, done)
		}
		assertClean(t, p, dir, bedNetworks)
	})
}

func TestNetworkFaults(t *testing.T) {
	b := startBed(t, faultsCompose, bedMembers)
	p := b.p

	t.Run("disconnect then connect", func(t *testing.T) {
		hook(t, "isolated", func(ctx context.Context) error {
			if s := inspect(t, p, tb); len(s.Networks) != 0 {
				t.Errorf("b after network.disconnect: on %+v, want no network", s.Networks)
			}
			dockertest.Expect(t, p, ta, map[string]bool{"b:7000": false, "c:7000": true})
			return nil
		})
		sc, dir := b.run(t, `steps:
  - id: cut
    kind: network.disconnect
    target: replica
    index: 1
    network: cluster
  - kind: network.connect
    target: c
  - kind: test.hook
    call: isolated
  - kind: network.connect
    target: b
checks:
  - cut.service == "b,c" && cut.member == "b,c" && cut.leader_before == "a"
`)
		passed(t, sc)
		// c was connected again by a step, b by the next one
		undos(t, sc)
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("disconnects undone by the run", func(t *testing.T) {
		sc, dir := b.run(t, `steps:
  - kind: network.disconnect
    target: c
    network: side
  - kind: network.disconnect
    target: s
    index: 1
`)
		passed(t, sc)
		undos(t, sc, "disconnect container "+inspect(t, p, ts1).Name+` (service s) from network "cluster"`, "disconnect container "+inspect(t, p, tc).Name+` (service c, member c, a replica) from network "side"`)
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("partition both ways, healed by a step", func(t *testing.T) {
		ipA := addr(t, p, ta)
		hook(t, "partitioned", func(ctx context.Context) error {
			dockertest.Expect(t, p, ta, map[string]bool{"b:7000": false, "c:7000": false, "s:7000": true})
			dockertest.Expect(t, p, tb, map[string]bool{"a:7000": false, "c:7000": true, "s:7000": true})
			dockertest.Expect(t, p, tc, map[string]bool{"a:7000": false, "b:7000": true})
			dockertest.Expect(t, p, ts1, map[string]bool{"a:7000": true, "b:7000": true})
			if !dockertest.FromHost(ipA) {
				t.Error("the host cannot reach a: allow_host is true by default")
			}
			for _, tg := range []docker.Target{ta, tb, tc} {
				if st := netState(t, p, tg); !slices.Contains(st.Rules, "-A INPUT -j DRILL-IN") {
					t.Errorf("%s during the partition: rules %q, want drill's chains", tg, st.Rules)
				}
			}
			if st := netState(t, p, ts1); !st.Clean() {
				t.Errorf("s#1, in no group, got rules: %+v", st)
			}
			return nil
		})
		hook(t, "healed", func(ctx context.Context) error {
			dockertest.Expect(t, p, ta, map[string]bool{"b:7000": true, "c:7000": true})
			dockertest.Expect(t, p, tb, map[string]bool{"a:7000": true})
			return nil
		})
		sc, dir := b.run(t, `steps:
  - id: split
    kind: network.partition
    network: cluster
    groups: [[leader], [b, c]]
  - kind: test.hook
    call: partitioned
  - kind: network.heal
  - kind: test.hook
    call: healed
checks:
  - split.service == "a" && split.member == "a" && split.leader_before == "a" && len(split.containers) == 3
`)
		passed(t, sc)
		undos(t, sc)
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("heal after a partitioned container was killed", func(t *testing.T) {
		sc, dir := b.run(t, `steps:
  - kind: network.partition
    groups: [[a], [b]]
  - kind: compose.kill
    target: b
  - id: heal
    kind: network.heal
  - kind: compose.start
    target: b
`)
		passed(t, sc)
		undos(t, sc)
		if want := "b#1 is not running: its network namespace is gone, and with it every rule drill put there; nothing to remove"; !strings.Contains(sc.Steps[2].Log, want) {
			t.Errorf("network.heal's log:\n%s\nwant a line %q", sc.Steps[2].Log, want)
		}
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("one way, partly healed by a step, the rest by the run", func(t *testing.T) {
		hook(t, "one way", func(ctx context.Context) error {
			dockertest.Expect(t, p, ta, map[string]bool{"b:7000": false, "s:7000": true})
			dockertest.Expect(t, p, tb, map[string]bool{"a:7000": true})
			return nil
		})
		hook(t, "half healed", func(ctx context.Context) error {
			if st := netState(t, p, tb); !st.Clean() {
				t.Errorf("b after network.heal of b: %+v", st)
			}
			if st := netState(t, p, ta); st.Clean() {
				t.Error("a lost its rules when only b was healed")
			}
			dockertest.Expect(t, p, ta, map[string]bool{"b:7000": false})
			return nil
		})
		sc, dir := b.run(t, `steps:
  - kind: network.partition
    one_way: true
    groups: [[a], [b]]
  - kind: test.hook
    call: one way
  - kind: network.heal
    targets: [b]
  - kind: test.hook
    call: half healed
`)
		passed(t, sc)
		undos(t, sc, "partition network \"cluster\": [container "+inspect(t, p, ta).Name+" (service a, member a, the leader)] | [container "+inspect(t, p, tb).Name+" (service b, member b, a replica)] (one way")
		assertClean(t, p, dir, bedNetworks)
	})

	t.Run("host cut too, in a scenario that fails", func(t *testing.T) {
		ipA, ipS2 := addr(t, p, ta), addr(t, p, ts2)
		hook(t, "no host", func(ctx context.Context) error {
			if dockertest.FromHost(ipA) {
				t.Error("the host still reaches a with allow_host: false")
			}
			dockertest.Expect(t, p, ta, map[string]bool{"b:7000": false, ipS2.String() + ":7000": true})
			dockertest.Expect(t, p, ts2, map[string]bool{"a:7000": true, "b:7000": true})
			return nil
		})
		sc, dir := b.run(t, `steps:
  - kind: network.partition
    allow_host: false
    groups: [[a], ["s#1", b]]
  - kind: compose.pause
    target: c
  - kind: test.hook
    call: no host
  - kind: shell
    command: exit 3
`)
		if sc.Passed() || !strings.Contains(sc.Aborted, "exited with 3") {
			t.Errorf("the scenario must fail at its shell step; aborted: %q", sc.Aborted)
		}
		undos(t, sc, "pause container", "partition network")
		if !dockertest.FromHost(ipA) {
			t.Error("the host cannot reach a after the run")
		}
		assertClean(t, p, dir, bedNetworks)
	})

	// netem runs a scenario whose first step is a netem fault. Where the
	// kernel lacks netem the step must fail saying so, and the run must undo
	// the fault it had written to the ledger; only the measurement is skipped.
	netem := func(t *testing.T, body, desc string) {
		t.Helper()
		sc, dir := b.run(t, body)
		if msg := sc.Steps[0].Message; strings.Contains(msg, netfault.ErrUnsupported.Error()) {
			if !strings.Contains(msg, "netem") || sc.Steps[0].Status != report.Error {
				t.Errorf("%s without netem: %s %q, want an error that names netem", sc.Steps[0].Kind, sc.Steps[0].Status, msg)
			}
			undos(t, sc, desc)
			assertClean(t, p, dir, bedNetworks)
			t.Skipf("not measured: %s", msg)
		}
		passed(t, sc)
		undos(t, sc)
		assertClean(t, p, dir, bedNetworks)
	}

	t.Run("delay for a while", func(t *testing.T) {
		hook(t, "slow", func(ctx context.Context) error {
			got := dockertest.Reach(t, p, ta, "b:7000", "c:7000")
			if got["b:7000"].RTT < 150*time.Millisecond || got["c:7000"].RTT > 100*time.Millisecond {
				t.Errorf("RTT from a with 150ms delay towards b only: %+v", got)
			}
			return nil
		})
		hook(t, "fast again", func(ctx context.Context) error {
			if got := dockertest.Reach(t, p, ta, "b:7000"); got["b:7000"].RTT > 100*time.Millisecond {
				t.Errorf("RTT from a to b after the delay's duration: %+v", got)
			}
			return nil
		})
		netem(t, `steps:
  - id: slow
    kind: network.delay
    target: a
    delay: 150ms
    jitter: 10ms
    towards: [b]
  - kind: test.hook
    call: slow
  - kind: network.heal
  - kind: network.delay
    target: leader
    delay: 150ms
    duration: 2s
  - kind: test.hook
    call: fast again
`, "delay 150ms ± 10ms sent by container")
	})

	t.Run("loss until healed", func(t *testing.T) {
		hook(t, "lossy", func(ctx context.Context) error {
			dockertest.Expect(t, p, tb, map[string]bool{"c:7000": false, "a:7000": true})
			return nil
		})
		netem(t, `steps:
  - kind: network.loss
    target: b
    loss: 100
    towards: [c]
  - kind: test.hook
    call: lossy
  - kind: network.heal
    targets: [b]
`, "drop 100% of the packets sent by container")
	})
}

// TestFaultErrors runs steps that cannot work and checks they fail with one
// clear line, touching nothing.
func TestFaultErrors(t *testing.T) {
	// d is a member no service of the project runs.
	b := startBed(t, faultsCompose, bedMembers+`,
	{"name": "d", "role": "replica", "state": "streaming", "host": "d", "port": 5432, "timeline": 1, "lag": 0}`)
	for _, c := range []struct {
		name, step, want string
	}{
		{"unknown service", "kind: compose.stop\n    target: nosuch", `no container for service "nosuch" in compose project "` + b.p.Name() + `" (services: a, b, c, s)`},
		{"unknown container number", "kind: compose.pause\n    target: b\n    index: 3", `no container number 3 for service "b" in compose project "` + b.p.Name() + `" (numbers: 1)`},
		{"unknown network", "kind: network.disconnect\n    target: b\n    network: nosuch", `no network "nosuch" in compose project "` + b.p.Name() + `" (networks: cluster, side)`},
		{"several networks", "kind: network.delay\n    target: c\n    delay: 10ms", `is on several networks (cluster, side): say which with network: or cluster.network`},
		{"role no member has", "kind: compose.kill\n    target: sync_standby", "no member has the role sync_standby now (members: a leader/running, b replica/streaming, c replica/streaming, d replica/streaming)"},
		{"member outside the project", "kind: compose.kill\n    target: member:d", `member:d is Patroni member "d", taken to run in service "d": no container for service "d" in compose project "` + b.p.Name() + `" (services: a, b, c, s) (map it with cluster.members.d.service)`},
		{"unknown member", "kind: compose.kill\n    target: member:e", `no Patroni member "e" (members: a, b, c, d)`},
		{"container in two groups", "kind: network.partition\n    groups: [[leader], [a]]", "groups 1 and 2 both hold container"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, dir := b.run(t, "steps:\n  - "+c.step+"\n")
			msg := sc.Steps[0].Message
			if sc.Steps[0].Status != report.Error || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("got %s %q, want one line with %q", sc.Steps[0].Status, msg, c.want)
			}
			if len(sc.Undo) != 0 {
				t.Errorf("a step that failed before its fault left undos: %+v", sc.Undo)
			}
			pending, _ := fault.Pending(dir)
			if len(pending) != 0 {
				t.Errorf("ledger: %+v", pending)
			}
		})
	}
	t.Run("unknown project", func(t *testing.T) {
		src := "name: x\ncluster:\n  compose_project: drill-no-such-project\nsteps:\n  - kind: compose.stop\n    target: a\n"
		l, err := runner.LoadScenario("x.yaml", []byte(src), nil, map[string]bool{})
		if err != nil {
			t.Fatal(err)
		}
		run := runner.Run(context.Background(), []*runner.Loaded{l}, runner.Options{StateDir: t.TempDir()})
		if msg := run.Scenarios[0].Steps[0].Message; !strings.Contains(msg, `no compose project "drill-no-such-project" on this Docker Engine (projects: `) {
			t.Errorf("got %q", msg)
		}
	})
	t.Run("engine unreachable", func(t *testing.T) {
		t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
		sc, _ := b.run(t, "steps:\n  - kind: compose.stop\n    target: a\n")
		if msg := sc.Steps[0].Message; !strings.Contains(msg, docker.ErrUnreachable.Error()+" at unix:///nonexistent/docker.sock (is dockerd running") {
			t.Errorf("got %q", msg)
		}
	})
	if s := inspect(t, b.p, ta); !s.Running {
		t.Errorf("a after the failed steps: %s", s)
	}
}
