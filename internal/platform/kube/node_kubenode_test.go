//go:build kubenode

package kube

import (
	"cmp"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/client/kube/kubetest"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/signal"
)

// realNode returns the real node's kubeconfig (KUBECONFIG, as
// examples/kube/node-up prints it), its name and the image on it; without
// KUBECONFIG the test is skipped, or fails under CI=true.
func realNode(t *testing.T) (kubeconfig, node, image string) {
	t.Helper()
	kubeconfig = os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KUBECONFIG is not set: run examples/kube/node-up first")
		}
		t.Skip("KUBECONFIG is not set: run examples/kube/node-up first")
	}
	return kubeconfig, cmp.Or(os.Getenv("DRILL_K8S_NODE_NAME"), "drill-node"), cmp.Or(os.Getenv("DRILL_K8S_IMAGE"), "drill-testbed:latest")
}

// TestFaultsOnARealNode runs the platform's faults on a real single-node
// cluster (examples/kube/node-up: kubelet v1.34, containerd, runc, the test
// bed image imported): a pod whose container runs tini over a shell and two
// sleeps is paused and thawed, gets a network rule that its drill-net
// container removes by itself at the deadline, is killed and comes back,
// is paused again (through a new drill-sig, the old one died with the
// container's process namespace), and is deleted.
func TestFaultsOnARealNode(t *testing.T) {
	kubeconfig, node, image := realNode(t)
	admin := kubetest.AdminFrom(t, kubeconfig)
	const ns, pod = "default", "drill-node-test"
	admin.RunPod(ns, pod, map[string]string{"app": "drill-node-test"}, node, "patroni", image,
		"tini", "-s", "--", "sh", "-c", "echo drill-node-test started; sleep 100000 & sleep 100000 & wait")
	t.Cleanup(func() {
		if admin.PodExists(ns, pod) {
			d, _ := platform.Lookup(Name)
			if p, err := d.Open(context.Background(), &cluster.Cluster{Platform: Name, Kubernetes: cluster.Kubernetes{Kubeconfig: kubeconfig, Namespace: ns, Selector: "app=drill-node-test"}}, nil); err == nil {
				_, _ = p.Stop(context.Background(), platform.Unit{Service: pod}, 0)
			}
		}
	})

	d, _ := platform.Lookup(Name)
	pl, err := d.Open(context.Background(), &cluster.Cluster{Platform: Name, Kubernetes: cluster.Kubernetes{
		Kubeconfig: kubeconfig, Namespace: ns, Selector: "app=drill-node-test", Container: "patroni", AgentImage: image}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := pl.(*Platform)
	units, err := p.Units(ctxFor(t, 30*time.Second), pod)
	if err != nil {
		t.Fatal(err)
	}
	u := units[0]
	if err := p.Start(ctxFor(t, 2*time.Minute), u); err != nil {
		t.Fatalf("the pod did not come up: %v", err)
	}

	logs, err := p.Logs(ctxFor(t, 30*time.Second), u, time.Time{})
	if err != nil || !strings.Contains(string(logs), "drill-node-test started") {
		t.Errorf("Logs = %q, %v", logs, err)
	}
	res, err := p.Exec(ctxFor(t, 30*time.Second), u, []string{"sh", "-c", "echo $((6*7)); exit 3"}, nil)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "42" || res.ExitCode != 3 {
		t.Errorf("Exec = %+v, %v; want 42 and exit 3", res, err)
	}

	// sleeps lists the states of the container's two sleeps, as the kernel
	// reports them (S sleeping, T stopped); drill's containers, which share
	// the process namespace, run sleeps of their own.
	sleeps := func() string {
		t.Helper()
		res, err := p.Exec(ctxFor(t, 30*time.Second), u, []string{"sh", "-c",
			`for d in /proc/[0-9]*; do [ "$(tr '\0' ' ' <$d/cmdline 2>/dev/null)" = "sleep 100000 " ] && awk '{printf "%s", $3}' $d/stat; done; echo`}, nil)
		if err != nil {
			t.Fatalf("reading the processes' states: %v", err)
		}
		return strings.TrimSpace(string(res.Stdout))
	}
	if got := sleeps(); got != "SS" {
		t.Fatalf("before the pause the sleeps are %q, want SS", got)
	}
	before := time.Now()
	eff, err := p.Pause(ctxFor(t, 3*time.Minute), u)
	if err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if eff.Source != "the pod's clock just before the signal" || eff.At.Before(before.Add(-2*time.Second)) {
		t.Errorf("pause effect = %+v", eff)
	}
	if got := sleeps(); got != "TT" {
		t.Errorf("after Pause the sleeps are %q, want TT", got)
	}
	if err := p.Unpause(ctxFor(t, 30*time.Second), u); err != nil {
		t.Fatalf("Unpause: %v", err)
	}
	if got := sleeps(); got != "SS" {
		t.Errorf("after Unpause the sleeps are %q, want SS", got)
	}

	// A rule in the pod's network namespace, then the dead-man deadline:
	// drill-net removes it by itself.
	add := "iptables -w -N " + netfault.ChainIn + " && iptables -w -I INPUT -j " + netfault.ChainIn
	if _, err := p.NetExec(ctxFor(t, 3*time.Minute), pod, []string{"sh", "-c", add}, nil); err != nil {
		t.Fatalf("NetExec: %v", err)
	}
	rules := func() string {
		out, err := p.NetExec(ctxFor(t, 30*time.Second), pod, []string{"iptables", "-w", "-S", "INPUT"}, nil)
		if err != nil {
			t.Fatalf("iptables -S: %v", err)
		}
		return string(out)
	}
	if !strings.Contains(rules(), "-j "+netfault.ChainIn) {
		t.Fatalf("the rule is not in INPUT: %s", rules())
	}
	armed := time.Now()
	if err := p.Arm(ctxFor(t, 30*time.Second), u, time.Second); err != nil {
		t.Fatalf("Arm: %v", err)
	}
	for strings.Contains(rules(), "-j "+netfault.ChainIn) {
		if time.Since(armed) > time.Minute {
			t.Fatalf("a minute after a 1s deadline the rule is still there")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("drill-net removed the rule %.1f s after a 1 s deadline was armed", time.Since(armed).Seconds())
	if err := p.Disarm(ctxFor(t, 30*time.Second), u); err != nil {
		t.Errorf("Disarm: %v", err)
	}

	// Kill: every process but tini; tini exits with its child, the kubelet
	// restarts the container, Start waits for that.
	restarts := func() int32 {
		got, err := p.Client().Pod(ctxFor(t, 30*time.Second), pod)
		if err != nil {
			t.Fatal(err)
		}
		return got.Restarts["patroni"]
	}
	r0 := restarts()
	killed, err := p.Kill(ctxFor(t, 30*time.Second), u, signal.SIGKILL)
	if err != nil {
		t.Fatalf("Kill: %v", err)
	}
	for restarts() == r0 {
		if time.Since(killed.At) > 2*time.Minute {
			t.Fatalf("the container was not restarted after the kill")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := p.Start(ctxFor(t, 2*time.Minute), u); err != nil {
		t.Fatalf("Start after Kill: %v", err)
	}
	t.Logf("after SIGKILL the container ran again %.1f s later (restarts %d -> %d)", time.Since(killed.At).Seconds(), r0, restarts())
	if got := sleeps(); got != "SS" {
		t.Errorf("after the restart the sleeps are %q, want SS", got)
	}
	if _, err := p.Pause(ctxFor(t, 3*time.Minute), u); err != nil {
		t.Fatalf("Pause after the restart: %v", err)
	}
	if got := sleeps(); got != "TT" {
		t.Errorf("after the second Pause the sleeps are %q, want TT", got)
	}
	if err := p.Unpause(ctxFor(t, 30*time.Second), u); err != nil {
		t.Fatalf("second Unpause: %v", err)
	}

	if _, err := p.Stop(ctxFor(t, time.Minute), u, 0); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if admin.PodExists(ns, pod) {
		t.Error("the pod is still there after Stop")
	}
}

// TestSignalRefusedToProcessOne: when process 1 of the container is
// PostgreSQL or Patroni itself (here a sleep named postgres), pause and kill
// fail with the reason and signal nothing; an init whose arguments merely
// mention patroni (tini over /patroni-start/start.sh) is not mistaken for it.
func TestSignalRefusedToProcessOne(t *testing.T) {
	kubeconfig, node, image := realNode(t)
	admin := kubetest.AdminFrom(t, kubeconfig)
	const ns = "default"
	pods := map[string][]string{
		"drill-pid1-postgres": {"bash", "-c", "exec -a postgres sleep 100000"},
		"drill-pid1-tini":     {"tini", "-s", "--", "sh", "-c", "sleep 100000 & wait", "/patroni-start/start.sh"},
	}
	for name, cmd := range pods {
		admin.RunPod(ns, name, map[string]string{"app": "drill-pid1"}, node, "patroni", image, cmd...)
	}
	p, err := open(Spec{Kubeconfig: kubeconfig, Namespace: ns, Selector: "app=drill-pid1", Container: "patroni", AgentImage: image}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for name := range pods {
			_, _ = p.Stop(context.Background(), platform.Unit{Service: name}, 0)
		}
	})
	for name := range pods {
		if err := p.Start(ctxFor(t, 2*time.Minute), platform.Unit{Service: name}); err != nil {
			t.Fatalf("pod %s did not come up: %v", name, err)
		}
	}
	_, err = p.Pause(ctxFor(t, 2*time.Minute), platform.Unit{Service: "drill-pid1-postgres"})
	if want := "process 1 of the container is postgres 100000 : the kernel ignores signal 19 sent to it from inside the pod"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Pause with postgres as process 1 = %v; want %q", err, want)
	}
	u := platform.Unit{Service: "drill-pid1-tini"}
	if _, err := p.Pause(ctxFor(t, 2*time.Minute), u); err != nil {
		t.Errorf("Pause under tini over a script named for patroni = %v; want the sleep frozen", err)
	} else if err := p.Unpause(ctxFor(t, 2*time.Minute), u); err != nil {
		t.Errorf("Unpause: %v", err)
	}
}
