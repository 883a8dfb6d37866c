package netfault_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/client/docker/dockertest"
	"github.com/drill-dev/drill/internal/netfault"
)

var _ netfault.NetExecer = (*docker.Project)(nil)

// a has the tools and NET_ADMIN (commands run by exec), b and c are FROM scratch (commands run
// in a helper container); c is in no group.
const composeFile = `version: "2.4"
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
    networks: [cluster]
networks:
  cluster: {}
`

var (
	ta = docker.Target{Service: "a"}
	tb = docker.Target{Service: "b"}
	tc = docker.Target{Service: "c"}
)

// member returns tg as a partition member with its address on the cluster network.
func member(t *testing.T, p *docker.Project, tg docker.Target) netfault.Member {
	t.Helper()
	s, err := p.Inspect(dockertest.Context(t, 10*time.Second), tg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Networks {
		if n.Network == "cluster" {
			return netfault.Member{Target: tg.String(), Addrs: []netip.Addr{n.IP}}
		}
	}
	t.Fatalf("%s is not on the cluster network: %+v", tg, s.Networks)
	return netfault.Member{}
}

// held is what hold reports: the probe's verdict and when it ended.
type held struct {
	verdict string // "held", or "cut after N echoes: ..."
	end     time.Time
}

// hold keeps a connection from -> to open for d across a fault (the probe stops early once the
// connection is cut).
func hold(p *docker.Project, from docker.Target, to string, d time.Duration) <-chan held {
	out := make(chan held, 1)
	go func() {
		res, err := p.Exec(context.Background(), from, []string{"/probe", "hold", "-for", d.String(), "-every", "100ms", to}, nil)
		verdict := strings.TrimSpace(string(res.Stdout))
		if err != nil {
			verdict = "error: " + err.Error()
		}
		out <- held{verdict, time.Now()}
	}()
	return out
}

func state(t *testing.T, p *docker.Project, target string) netfault.State {
	t.Helper()
	s, err := netfault.ReadState(dockertest.Context(t, 30*time.Second), p, target)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// heal heals targets and checks that nothing of drill's is left.
func heal(t *testing.T, p *docker.Project, targets ...string) {
	t.Helper()
	start := time.Now()
	if _, err := netfault.Heal(dockertest.Context(t, 30*time.Second), p, targets...); err != nil {
		t.Fatal(err)
	}
	t.Logf("Heal %v took %v", targets, time.Since(start))
	for _, tg := range targets {
		if s := state(t, p, tg); !s.Clean() {
			t.Errorf("%s after Heal: %+v", tg, s)
		}
	}
}

// apply applies part, timing it, and returns when it was done.
func apply(t *testing.T, p *docker.Project, part netfault.Partition) time.Time {
	t.Helper()
	start := time.Now()
	if err := netfault.ApplyPartition(dockertest.Context(t, 30*time.Second), p, part); err != nil {
		t.Fatal(err)
	}
	t.Logf("ApplyPartition took %v", time.Since(start))
	return time.Now()
}

func TestFaults(t *testing.T) {
	_, p, _ := dockertest.Start(t, composeFile)
	ctx := dockertest.Context(t, 5*time.Minute)
	a, b := member(t, p, ta), member(t, p, tb)
	netInfo, err := p.Network(ctx, "cluster")
	if err != nil {
		t.Fatal(err)
	}
	subnet, gw := netInfo.Subnets[0], netInfo.Gateways[0]
	all := map[string]bool{"a:7000": true, "b:7000": true, "c:7000": true}
	dockertest.Expect(t, p, ta, all)
	dockertest.Expect(t, p, tb, all)
	if !dockertest.FromHost(a.Addrs[0]) {
		t.Fatal("the host cannot reach a before any fault")
	}
	t.Cleanup(func() { _, _ = netfault.Heal(context.Background(), p, "a", "b", "c") })

	t.Run("symmetric partition", func(t *testing.T) {
		established := hold(p, ta, "b:7000", 20*time.Second)
		time.Sleep(time.Second)
		part := netfault.Partition{Groups: [][]netfault.Member{{a}, {b}}}
		apply(t, p, part)
		if got := <-established; !strings.HasPrefix(got.verdict, "cut after ") {
			t.Errorf("a connection open before the partition: %q, want it cut", got.verdict)
		}
		apply(t, p, part) // applying again replaces the rules, it does not add to them
		dockertest.Expect(t, p, ta, map[string]bool{"a:7000": true, "b:7000": false, "c:7000": true})
		dockertest.Expect(t, p, tb, map[string]bool{"a:7000": false, "b:7000": true, "c:7000": true})
		dockertest.Expect(t, p, tc, all)
		if !dockertest.FromHost(a.Addrs[0]) || !dockertest.FromHost(b.Addrs[0]) {
			t.Error("the host lost a or b, which no group lists")
		}
		want := []string{
			":DRILL-IN - [0:0]", ":DRILL-OUT - [0:0]",
			"-A INPUT -j DRILL-IN", "-A OUTPUT -j DRILL-OUT",
			"-A DRILL-IN -s " + b.Addrs[0].String() + "/32 -j DROP", "-A DRILL-OUT -d " + b.Addrs[0].String() + "/32 -j DROP",
		}
		if got := state(t, p, "a").Rules; !slices.Equal(got, want) {
			t.Errorf("a's rules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if out, err := exec.Command("iptables-save", "-t", "filter").Output(); err != nil || strings.Contains(string(out), "DRILL-") {
			t.Errorf("the host's own filter table has drill's chains (or cannot be read: %v)", err)
		}
		if os.Getenv("DRILL_PAUSE_PARTITIONED") != "" { // to look at it by hand
			t.Logf("partitioned; a is %s, b is %s; sleeping", a.Addrs[0], b.Addrs[0])
			time.Sleep(time.Minute)
		}
		heal(t, p, "a", "b")
		dockertest.Expect(t, p, ta, all)
		dockertest.Expect(t, p, tb, all)
		heal(t, p, "a", "b") // nothing left to heal: still a success
	})

	t.Run("one-way partition", func(t *testing.T) {
		fromA, fromB := hold(p, ta, "b:7000", 20*time.Second), hold(p, tb, "a:7000", 6*time.Second)
		time.Sleep(time.Second)
		applied := apply(t, p, netfault.Partition{Groups: [][]netfault.Member{{a}, {b}}, OneWay: true})
		dockertest.Expect(t, p, ta, map[string]bool{"b:7000": false, "c:7000": true})
		dockertest.Expect(t, p, tb, map[string]bool{"a:7000": true, "c:7000": true})
		if got := <-fromA; !strings.HasPrefix(got.verdict, "cut after ") {
			t.Errorf("a connection a had opened to b: %q, want it cut", got.verdict)
		}
		got := <-fromB
		if got.verdict != "held" {
			t.Errorf("a connection b had opened to a: %q, want it held", got.verdict)
		}
		if under := got.end.Sub(applied); under < time.Second {
			t.Errorf("b's connection was held only %v under the partition: the machine is too slow for this check, raise the hold", under)
		}
		heal(t, p, "a", "b")
		dockertest.Expect(t, p, ta, all)
	})

	t.Run("cut from the whole network, the host kept", func(t *testing.T) {
		part := netfault.Partition{Groups: [][]netfault.Member{{a}}, Network: subnet, Keep: []netip.Addr{gw}}
		apply(t, p, part)
		dockertest.Expect(t, p, ta, map[string]bool{"a:7000": true, "b:7000": false, "c:7000": false})
		dockertest.Expect(t, p, tc, map[string]bool{"a:7000": false, "b:7000": true})
		if !dockertest.FromHost(a.Addrs[0]) {
			t.Error("the host cannot reach a although its gateway address is kept")
		}
		part.Keep = nil
		apply(t, p, part)
		if dockertest.FromHost(a.Addrs[0]) {
			t.Error("the host still reaches a, cut from the whole network, host included")
		}
		heal(t, p, "a")
		if !dockertest.FromHost(a.Addrs[0]) {
			t.Error("the host cannot reach a after Heal")
		}
		dockertest.Expect(t, p, ta, all)
	})

	t.Run("netem", func(t *testing.T) {
		// A root qdisc with drill's handle, of a kind every kernel has: Heal removes it.
		if _, err := p.NetExec(ctx, "b", []string{"tc", "qdisc", "add", "dev", "eth0", "root", "handle", netfault.RootHandle, "tbf", "rate", "100mbit", "burst", "32kbit", "latency", "50ms"}, nil); err != nil {
			t.Fatal(err)
		}
		if s := state(t, p, "b"); s.Clean() || !slices.ContainsFunc(s.Qdiscs, func(q string) bool { return strings.HasPrefix(q, "qdisc tbf d1: dev eth0 root") }) {
			t.Fatalf("b's qdiscs: %q", s.Qdiscs)
		}
		heal(t, p, "b")

		delay := netfault.Netem{Target: "a", Via: a.Addrs[0], Delay: 150 * time.Millisecond, To: []netip.Addr{b.Addrs[0]}}
		err := netfault.ApplyNetem(ctx, p, delay)
		if errors.Is(err, netfault.ErrUnsupported) {
			heal(t, p, "a")
			t.Skipf("delay not measured: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := dockertest.Reach(t, p, ta, "b:7000", "c:7000")
		if got["b:7000"].RTT < 150*time.Millisecond || got["c:7000"].RTT > 100*time.Millisecond {
			t.Errorf("RTT with 150ms delay towards b only: %+v", got)
		}
		if s := state(t, p, "a"); !slices.ContainsFunc(s.Qdiscs, func(q string) bool { return strings.HasPrefix(q, "qdisc netem d2: dev eth0 parent d1:4") }) {
			t.Errorf("a's qdiscs: %q", s.Qdiscs)
		}
		loss := netfault.Netem{Target: "b", Via: b.Addrs[0], Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 1}
		if err := netfault.ApplyNetem(ctx, p, loss); err != nil {
			t.Fatal(err)
		}
		if got := dockertest.Reach(t, p, tb, "c:7000"); got["c:7000"].RTT < 90*time.Millisecond {
			t.Errorf("RTT with 100ms delay on b: %+v", got)
		}
		heal(t, p, "a", "b")
		got = dockertest.Reach(t, p, ta, "b:7000")
		if got["b:7000"].RTT > 100*time.Millisecond {
			t.Errorf("RTT after Heal: %+v", got)
		}
	})
}
