//go:build kube

package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/client/kube/kubetest"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/internal/platform"
)

// These tests run against a real kube-apiserver (and etcd) that kubetest
// starts; no kubelet runs, so no container ever runs by itself. Where a
// test needs a running container it writes the status a kubelet would
// (kubetest.SetRunning) and says so.

var spiloLabels = func(cluster, role string) map[string]string {
	return map[string]string{"application": "spilo", "cluster-name": cluster, "spilo-role": role}
}

// openAs opens the platform as user on namespace ns with the block's
// kubernetes settings.
func openAs(t *testing.T, srv *kubetest.Server, user, ns string, k cluster.Kubernetes) *Platform {
	t.Helper()
	k.Kubeconfig, k.Namespace = srv.Kubeconfig(user), ns
	d, err := platform.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := d.Open(context.Background(), &cluster.Cluster{Platform: Name, Kubernetes: k}, nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return pl.(*Platform)
}

func TestKubernetesPlatform(t *testing.T) {
	srv := kubetest.Start(t)
	admin := srv.AdminClient(t)

	t.Run("presets pick the operator's pods; a pod they do not pick is not found", func(t *testing.T) {
		admin.Namespace("presets", nil)
		for _, p := range []string{"acid-main-0", "acid-main-1", "acid-main-2"} {
			admin.Pod("presets", p, spiloLabels("acid-main", "replica"), "postgres")
		}
		admin.Pod("presets", "acid-other-0", spiloLabels("acid-other", "master"), "postgres")
		admin.Pod("presets", "hippo-instance1-abcd-0", map[string]string{
			"postgres-operator.crunchydata.com/cluster": "hippo", "postgres-operator.crunchydata.com/instance": "hippo-instance1-abcd",
			"postgres-operator.crunchydata.com/role": "master"}, "database")
		admin.Pod("presets", "hippo-backup-xyz", map[string]string{"postgres-operator.crunchydata.com/cluster": "hippo"}, "pgbackrest")

		spilo := openAs(t, srv, "admin", "presets", cluster.Kubernetes{Preset: "spilo", ClusterName: "acid-main"})
		got, err := spilo.Services(ctxFor(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if want := "acid-main-0,acid-main-1,acid-main-2"; strings.Join(got, ",") != want {
			t.Errorf("spilo services = %v, want %s", got, want)
		}
		if spilo.Spec().Container != "postgres" || spilo.Spec().Selector != "application=spilo,cluster-name=acid-main" {
			t.Errorf("spilo preset spec = %+v", spilo.Spec())
		}
		_, err = spilo.Units(ctxFor(t, 30*time.Second), "acid-main-3")
		if !errors.Is(err, platform.ErrNotFound) {
			t.Fatalf("Units(acid-main-3) = %v, want ErrNotFound", err)
		}
		want := `no pod "acid-main-3" in namespace presets matches application=spilo,cluster-name=acid-main (pods: acid-main-0, acid-main-1, acid-main-2); did you mean "acid-main-0"?: not found`
		if err.Error() != want {
			t.Errorf("Units error:\n got %s\nwant %s", err, want)
		}

		pgo := openAs(t, srv, "admin", "presets", cluster.Kubernetes{Preset: "pgo", ClusterName: "hippo"})
		got, err = pgo.Services(ctxFor(t, 30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if want := "hippo-instance1-abcd-0"; strings.Join(got, ",") != want {
			t.Errorf("pgo services = %v, want only the instance pod %s", got, want)
		}
	})

	t.Run("stop deletes the pod; start waits for its controller to make it again", func(t *testing.T) {
		admin.Namespace("stop", nil)
		admin.Pod("stop", "pg-0", map[string]string{"app": "pg"}, "patroni")
		p := openAs(t, srv, "admin", "stop", cluster.Kubernetes{Selector: "app=pg"})
		units, err := p.Units(ctxFor(t, 30*time.Second), "pg-0")
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		eff, err := p.Stop(ctxFor(t, 30*time.Second), units[0], 0)
		if err != nil {
			t.Fatal(err)
		}
		if eff.At.Before(before) || eff.Source != "the API server's acceptance of the pod's deletion" {
			t.Errorf("effect = %+v, want at or after %s from the API server", eff, before)
		}
		if admin.PodExists("stop", "pg-0") {
			t.Fatal("pg-0 is still there after Stop")
		}
		// Nothing recreates a bare pod: Start says what it waits for.
		err = p.Start(ctxFor(t, 2*time.Second), units[0])
		if err == nil || !strings.Contains(err.Error(), "pod pg-0 is not there: is it owned by a StatefulSet that recreates it?") {
			t.Fatalf("Start without a controller = %v", err)
		}
		// A controller's new pod of the same name, running: Start returns.
		admin.Pod("stop", "pg-0", map[string]string{"app": "pg"}, "patroni")
		done := make(chan error, 1)
		go func() { done <- p.Start(ctxFor(t, 60*time.Second), units[0]) }()
		admin.SetRunning("stop", "pg-0", "10.244.0.7", "patroni") // as the kubelet would
		if err := <-done; err != nil {
			t.Fatalf("Start after the pod runs again: %v", err)
		}
		if st, _ := p.State(ctxFor(t, 30*time.Second), "pg-0"); st != "running" {
			t.Errorf("State = %q, want running", st)
		}
	})

	t.Run("a network fault adds one drill-net container with NET_ADMIN, reused, and replaced once it ended", func(t *testing.T) {
		admin.Namespace("agent", nil)
		admin.Pod("agent", "pg-0", map[string]string{"app": "pg"}, "patroni", "sidecar")
		p := openAs(t, srv, "admin", "agent", cluster.Kubernetes{Selector: "app=pg", Container: "patroni", AgentImage: "drill-testbed:latest", PodCIDR: "10.244.0.0/16"})

		// No kubelet: the container is added, never runs, and the wait ends
		// at the caller's deadline with what is known.
		_, err := p.NetExec(ctxFor(t, 3*time.Second), "pg-0", []string{"iptables", "-L"}, nil)
		if err == nil || !strings.Contains(err.Error(), "container drill-net of pod pg-0 is not running (not reported by a kubelet; the pod is on no node)") {
			t.Fatalf("NetExec without a kubelet = %v", err)
		}
		ecs := admin.EphemeralContainers("agent", "pg-0")
		if len(ecs) != 1 {
			t.Fatalf("ephemeral containers = %d, want 1", len(ecs))
		}
		ec := ecs[0]
		if ec.Name != "drill-net" || ec.TargetContainerName != "patroni" || ec.Image != "drill-testbed:latest" ||
			ec.SecurityContext == nil || ec.SecurityContext.Capabilities == nil || len(ec.SecurityContext.Capabilities.Add) != 1 || ec.SecurityContext.Capabilities.Add[0] != "NET_ADMIN" {
			t.Errorf("drill-net = %+v", ec)
		}
		if len(ec.Command) != 3 || !strings.Contains(ec.Command[2], netfault.HealScript()) || !strings.Contains(ec.Command[2], deadlineFile) {
			t.Errorf("drill-net runs %q, want the dead-man loop with netfault's heal script", ec.Command)
		}

		// Asked again, drill waits for the same container.
		_, _ = p.NetExec(ctxFor(t, time.Second), "pg-0", []string{"true"}, nil)
		if n := len(admin.EphemeralContainers("agent", "pg-0")); n != 1 {
			t.Errorf("after a second fault: %d ephemeral containers, want 1", n)
		}
		// Once it has ended (as the kubelet reports), a new one is added.
		admin.SetRunning("agent", "pg-0", "10.244.0.8", "patroni", "sidecar")
		_, _ = p.NetExec(ctxFor(t, time.Second), "pg-0", []string{"true"}, nil)
		names := []string{}
		for _, ec := range admin.EphemeralContainers("agent", "pg-0") {
			names = append(names, ec.Name)
		}
		if strings.Join(names, ",") != "drill-net,drill-net-2" {
			t.Errorf("after drill-net ended: ephemeral containers %v, want drill-net,drill-net-2", names)
		}

		// A signal fault gets its own container, without NET_ADMIN.
		units, _ := p.Units(ctxFor(t, 30*time.Second), "pg-0")
		if _, err := p.Pause(ctxFor(t, time.Second), units[0]); err == nil {
			t.Fatal("Pause without a kubelet succeeded")
		}
		last := admin.EphemeralContainers("agent", "pg-0")[2]
		if last.Name != "drill-sig" || last.TargetContainerName != "patroni" || (last.SecurityContext.Capabilities != nil && len(last.SecurityContext.Capabilities.Add) > 0) {
			t.Errorf("drill-sig = %+v", last)
		}

		at, err := p.Attachment(ctxFor(t, 30*time.Second), units[0], "")
		if err != nil || at.IP.String() != "10.244.0.8" {
			t.Errorf("Attachment = %+v, %v", at, err)
		}
		n, err := p.Network(ctxFor(t, 30*time.Second), "")
		if err != nil || len(n.Subnets) != 1 || n.Subnets[0].String() != "10.244.0.0/16" {
			t.Errorf("Network = %+v, %v", n, err)
		}
	})

	t.Run("without an agent image a fault that needs one says so and adds nothing", func(t *testing.T) {
		admin.Namespace("noimage", nil)
		admin.Pod("noimage", "pg-0", map[string]string{"app": "pg"}, "patroni")
		p := openAs(t, srv, "admin", "noimage", cluster.Kubernetes{Selector: "app=pg"})
		units, _ := p.Units(ctxFor(t, 30*time.Second), "pg-0")
		_, err := p.Kill(ctxFor(t, 30*time.Second), units[0], 0)
		if err == nil || !strings.Contains(err.Error(), "set kubernetes.agent_image to an image the nodes can pull") {
			t.Fatalf("Kill without agent_image = %v", err)
		}
		if n := len(admin.EphemeralContainers("noimage", "pg-0")); n != 0 {
			t.Errorf("%d ephemeral containers added", n)
		}
	})

	t.Run("Pod Security baseline refuses NET_ADMIN: the check says so before any fault, and so does the API server", func(t *testing.T) {
		admin.Namespace("baseline", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
		admin.Pod("baseline", "pg-0", map[string]string{"app": "pg"}, "patroni")
		p := openAs(t, srv, "admin", "baseline", cluster.Kubernetes{Selector: "app=pg", AgentImage: "drill-testbed:latest"})
		err := p.Check(ctxFor(t, 30*time.Second), []platform.Capability{platform.NetRules})
		want := "namespace baseline enforces Pod Security baseline (label pod-security.kubernetes.io/enforce): it refuses the NET_ADMIN capability that drill's network faults need; label the namespace pod-security.kubernetes.io/enforce=privileged for the drill"
		if err == nil || err.Error() != want {
			t.Errorf("Check:\n got %v\nwant %s", err, want)
		}
		if err := p.Check(ctxFor(t, 30*time.Second), []platform.Capability{platform.Freeze, platform.Logs}); err != nil {
			t.Errorf("Check of signals and logs under baseline: %v", err)
		}
		// Past the check, the API server itself refuses the container.
		_, err = p.NetExec(ctxFor(t, 30*time.Second), "pg-0", []string{"true"}, nil)
		if err == nil || !strings.Contains(err.Error(), "refused by Pod Security") || !strings.Contains(err.Error(), "NET_ADMIN") {
			t.Errorf("NetExec under baseline = %v", err)
		}
		if n := len(admin.EphemeralContainers("baseline", "pg-0")); n != 0 {
			t.Errorf("%d ephemeral containers added under baseline", n)
		}
	})

	t.Run("missing RBAC: the check lists every verb drill lacks", func(t *testing.T) {
		admin.Namespace("rbac", nil)
		admin.Pod("rbac", "pg-0", map[string]string{"app": "pg"}, "patroni")
		admin.Grant("rbac", "drill", kubetest.Rule([]string{"get", "list"}, "pods"))
		p := openAs(t, srv, "drill", "rbac", cluster.Kubernetes{Selector: "app=pg", AgentImage: "drill-testbed:latest"})
		err := p.Check(ctxFor(t, 30*time.Second), []platform.Capability{platform.Lifecycle, platform.Logs})
		want := "does not let drill delete pods, update pods/ephemeralcontainers, create pods/exec, get pods/log in namespace rbac: grant these verbs with a Role and RoleBinding"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Check = %v, want it to contain %q", err, want)
		}
		// The API server refuses what the check warned of, with the verb.
		units, _ := p.Units(ctxFor(t, 30*time.Second), "pg-0")
		_, err = p.Stop(ctxFor(t, 30*time.Second), units[0], 0)
		if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "give drill's user the RBAC verb delete on pods") {
			t.Errorf("Stop without delete = %v", err)
		}
		if !admin.PodExists("rbac", "pg-0") {
			t.Error("pg-0 was deleted")
		}
		admin.Grant("rbac", "drill-all", kubetest.Rule([]string{"delete"}, "pods"), kubetest.Rule([]string{"update"}, "pods/ephemeralcontainers"),
			kubetest.Rule([]string{"create"}, "pods/exec"), kubetest.Rule([]string{"get"}, "pods/log"))
		// drill-all's binding names drill-all; bind it to drill too.
		admin.Bind("rbac", "drill-all", "drill")
		if err := p.Check(ctxFor(t, 30*time.Second), []platform.Capability{platform.Lifecycle, platform.Logs}); err != nil {
			t.Errorf("Check with every verb granted: %v", err)
		}
	})

	t.Run("port_forward without pods/portforward or pods/proxy is refused, naming the verbs, and opens no listener", func(t *testing.T) {
		admin.Namespace("fwd", nil)
		admin.Pod("fwd", "pg-0", map[string]string{"app": "pg"}, "patroni")
		admin.Grant("fwd", "drill", kubetest.Rule([]string{"get", "list"}, "pods"))
		p := openAs(t, srv, "drill", "fwd", cluster.Kubernetes{Selector: "app=pg"})
		for scheme, want := range map[string]string{
			"postgres": "does not let drill create pods/portforward in namespace fwd, which kubernetes.port_forward needs for postgres://pg-0:5432: grant it with a Role and RoleBinding",
			"http":     "does not let drill get pods/proxy, create pods/proxy, patch pods/proxy in namespace fwd, which kubernetes.port_forward needs for http://pg-0:8008: grant it with a Role and RoleBinding",
		} {
			port := map[string]int{"postgres": 5432, "http": 8008}[scheme]
			_, err := p.Forward(ctxFor(t, 30*time.Second), scheme, "pg-0", port)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Forward %s = %v, want it to contain %q", scheme, err, want)
			}
		}
		if len(p.forwards) != 0 {
			t.Errorf("%d forwards open after the refusal", len(p.forwards))
		}
	})

	t.Run("the ledger's Ref alone reaches the same pods", func(t *testing.T) {
		admin.Namespace("ledger", nil)
		admin.Pod("ledger", "pg-0", map[string]string{"app": "pg"}, "patroni")
		p := openAs(t, srv, "admin", "ledger", cluster.Kubernetes{Selector: "app=pg"})
		d, _ := platform.Lookup(Name)
		again, err := d.Reopen(context.Background(), p.Ref(), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := again.Services(ctxFor(t, 30*time.Second))
		if err != nil || strings.Join(got, ",") != "pg-0" {
			t.Errorf("reopened Services = %v, %v", got, err)
		}
	})

	// Last: it stops the API server.
	t.Run("an API server that goes away mid-run is an error that names it, within the step's deadline", func(t *testing.T) {
		admin.Namespace("gone", nil)
		admin.Pod("gone", "pg-0", map[string]string{"app": "pg"}, "patroni")
		p := openAs(t, srv, "admin", "gone", cluster.Kubernetes{Selector: "app=pg"})
		if _, err := p.Services(ctxFor(t, 30*time.Second)); err != nil {
			t.Fatal(err)
		}
		srv.StopAPIServer()
		start := time.Now()
		_, err := p.Services(ctxFor(t, 10*time.Second))
		if err == nil || !strings.Contains(err.Error(), "list pods in namespace gone of "+srv.URL()) {
			t.Errorf("Services with the API server gone = %v", err)
		}
		if took := time.Since(start); took > 10*time.Second+time.Second {
			t.Errorf("took %s, beyond the 10s deadline", took)
		}
	})
}
