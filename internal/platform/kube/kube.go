// Package kube is the platform of clusters that run on Kubernetes: a unit
// is a pod that the cluster block's label selector picks, a member is named
// by its pod, and every call goes through internal/client/kube.
//
// Faults act as they do elsewhere, with Kubernetes' own means:
//
//   - Stop deletes the pod (with the grace given); its controller (a
//     StatefulSet) recreates it, and Start waits for that.
//   - Kill, Pause and Unpause send signals from an ephemeral container,
//     drill-sig, that shares the Patroni container's process namespace.
//   - NetExec runs drill's iptables and tc commands in an ephemeral
//     container, drill-net, with NET_ADMIN in the pod's network namespace.
//     It also keeps the dead-man deadline: past it, it removes drill's rules
//     by itself, even when drill can no longer reach the pod.
//
// Ephemeral containers cannot be removed: they stay in the pod, idle, until
// the pod is replaced, and drill reuses them.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/client/kube"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/signal"
)

// Name is the driver's name in cluster.platform.
const Name = "kubernetes"

func init() {
	platform.Register(platform.Driver{
		Name: Name,
		Doc:  "pods on Kubernetes picked by a label selector (Spilo, PGO, Percona or plain Patroni); faults through the API server",
		Caps: []platform.Capability{platform.Lifecycle, platform.Freeze, platform.Exec, platform.Logs, platform.NetRules},
		Open: func(ctx context.Context, c *cluster.Cluster, log *slog.Logger) (platform.Platform, error) {
			k := c.Kubernetes
			selector, container, err := k.Pods()
			if err != nil {
				return nil, fmt.Errorf("cluster.kubernetes: %w", err)
			}
			return open(Spec{Kubeconfig: k.Kubeconfig, Context: k.Context, Namespace: k.Namespace, Selector: selector,
				Container: container, AgentImage: k.AgentImage, PodCIDR: k.PodCIDR}, log)
		},
		Reopen: func(ctx context.Context, ref platform.Ref, log *slog.Logger) (platform.Platform, error) {
			var s Spec
			if err := json.Unmarshal([]byte(ref.Spec), &s); err != nil {
				return nil, fmt.Errorf("kubernetes: bad platform settings in the ledger: %w", err)
			}
			return open(s, log)
		},
		Check: func(ctx context.Context, p platform.Platform, caps []platform.Capability) error {
			return p.(*Platform).Check(ctx, caps)
		},
	})
}

// Spec is what the ledger keeps to reach the pods again.
type Spec struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
	Namespace  string `json:"namespace"`
	Selector   string `json:"selector"`
	Container  string `json:"container,omitempty"`
	AgentImage string `json:"agent_image,omitempty"`
	PodCIDR    string `json:"pod_cidr,omitempty"`
}

// Platform is the pods of one namespace that a label selector picks.
type Platform struct {
	client *kube.Client
	spec   Spec
	ref    platform.Ref
	log    *slog.Logger

	mu       sync.Mutex
	agents   map[string]string   // pod UID + "/" + agent kind: its running container
	forwards map[string]*forward // "scheme://host:port": its local listener
	allowed  map[string]bool     // permission lists the API server allowed (mayForward)
}

var (
	_ platform.Platform  = (*Platform)(nil)
	_ platform.DeadMan   = (*Platform)(nil)
	_ platform.Forwarder = (*Platform)(nil)
)

func open(s Spec, log *slog.Logger) (*Platform, error) {
	if log == nil {
		log = slog.Default()
	}
	c, err := kube.Open(kube.Config{Kubeconfig: s.Kubeconfig, Context: s.Context, Namespace: s.Namespace})
	if err != nil {
		return nil, err
	}
	s.Namespace = c.Namespace()
	spec, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return &Platform{client: c, spec: s, ref: platform.Ref{Driver: Name, Spec: string(spec)}, log: log,
		agents: map[string]string{}, forwards: map[string]*forward{}, allowed: map[string]bool{}}, nil
}

// Ref names the API server's kubeconfig context, the namespace and the
// selector: all `drill cleanup` needs.
func (p *Platform) Ref() platform.Ref { return p.ref }

// Close stops the port-forwards and ends their connections; requests are
// plain HTTP and need nothing released.
func (p *Platform) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for key, f := range p.forwards {
		errs = append(errs, f.close())
		delete(p.forwards, key)
	}
	return errors.Join(errs...)
}

// Client is the platform's API client, for drill status.
func (p *Platform) Client() *kube.Client { return p.client }

// Spec is the platform's settings with the preset applied.
func (p *Platform) Spec() Spec { return p.spec }

// Services lists the pods the selector picks, by name.
func (p *Platform) Services(ctx context.Context) ([]string, error) {
	pods, err := p.client.Pods(ctx, p.spec.Selector)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(pods))
	for _, pod := range pods {
		names = append(names, pod.Name)
	}
	return names, nil
}

// Units returns the pod named service as the one unit of that service. A
// pod the selector does not pick is an error that lists those it does.
func (p *Platform) Units(ctx context.Context, service string) ([]platform.Unit, error) {
	names, err := p.Services(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(names, service) {
		return nil, fmt.Errorf("no pod %q in namespace %s matches %s (pods: %s)%s: %w", service, p.spec.Namespace,
			p.spec.Selector, listOrNone(names), dsl.DidYouMean(service, names), platform.ErrNotFound)
	}
	return []platform.Unit{{Service: service, Name: p.spec.Namespace + "/" + service, Noun: "pod"}}, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// pod returns the unit's pod; a missing one is platform.ErrNotFound.
func (p *Platform) pod(ctx context.Context, name string) (kube.Pod, error) {
	pod, err := p.client.Pod(ctx, name)
	if errors.Is(err, kube.ErrNotFound) {
		return pod, fmt.Errorf("%w: %w", platform.ErrNotFound, err)
	}
	return pod, err
}

// container is the pod's Patroni container: the block's, else the pod's
// first.
func (p *Platform) container(pod kube.Pod) (string, error) {
	if p.spec.Container != "" {
		if !slices.Contains(pod.Containers, p.spec.Container) {
			return "", fmt.Errorf("pod %s has no container %s (containers: %s): set kubernetes.container", pod.Name, p.spec.Container, strings.Join(pod.Containers, ", "))
		}
		return p.spec.Container, nil
	}
	if len(pod.Containers) == 0 {
		return "", fmt.Errorf("pod %s has no containers", pod.Name)
	}
	return pod.Containers[0], nil
}

// Stop deletes the pod with the grace given and waits until its Patroni
// container has stopped (as docker stop waits for the container), or the
// pod (by its UID) is gone; the pod's controller may already have made a
// new one of the same name. Waiting for the pod object to go as well would
// add the kubelet's teardown of the pod (seconds) to the step, and a drill
// polling for the new leader after it would see the leader late. The fault
// is dated by the API server's acceptance.
func (p *Platform) Stop(ctx context.Context, u platform.Unit, grace time.Duration) (platform.Effect, error) {
	pod, err := p.pod(ctx, u.Service)
	if err != nil {
		return platform.Effect{}, err
	}
	container, err := p.container(pod)
	if err != nil {
		return platform.Effect{}, err
	}
	at, err := p.client.Delete(ctx, u.Service, &grace)
	if err != nil {
		return platform.Effect{}, err
	}
	effect := platform.Effect{At: at, Source: "the API server's acceptance of the pod's deletion"}
	for {
		now, err := p.client.Pod(ctx, u.Service)
		if errors.Is(err, kube.ErrNotFound) || (err == nil && now.UID != pod.UID) {
			return effect, nil
		}
		if _, running := now.Running[container]; err == nil && !running {
			return effect, nil
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return platform.Effect{}, fmt.Errorf("pod %s was deleted (grace %s) but its container %s still runs: %w", u.Service, grace, container, err)
		}
	}
}

// Start waits until the pod is there again (its controller recreates a
// deleted pod, the kubelet restarts a killed container) with its Patroni
// container running. A pod already running is left alone.
func (p *Platform) Start(ctx context.Context, u platform.Unit) error {
	var last string
	for {
		pod, err := p.client.Pod(ctx, u.Service)
		switch {
		case err == nil && !pod.Deleting:
			c, cerr := p.container(pod)
			if cerr != nil {
				return cerr
			}
			if _, running := pod.Running[c]; running {
				return nil
			}
			last = fmt.Sprintf("pod %s is %s, container %s not running", u.Service, pod.Phase, c)
		case err == nil:
			last = "pod " + u.Service + " is being deleted"
		case errors.Is(err, kube.ErrNotFound):
			last = "pod " + u.Service + " is not there: is it owned by a StatefulSet that recreates it?"
		default:
			last = err.Error()
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for pod %s to run again: %s: %w", u.Service, last, err)
		}
	}
}

// Restart deletes the pod (as Stop) and waits for it to run again.
func (p *Platform) Restart(ctx context.Context, u platform.Unit, grace time.Duration) error {
	if _, err := p.Stop(ctx, u, grace); err != nil {
		return err
	}
	return p.Start(ctx, u)
}

// Kill sends sig to every process of the Patroni container but its process
// 1 (Patroni, PostgreSQL and what else runs under the container's init). The
// kubelet then restarts the container when its init exits.
func (p *Platform) Kill(ctx context.Context, u platform.Unit, sig signal.Signal) (platform.Effect, error) {
	if sig == 0 {
		sig = signal.SIGKILL
	}
	return p.signal(ctx, u, sig, "kill")
}

// Pause stops every process of the Patroni container but its process 1
// with SIGSTOP; Unpause continues them.
func (p *Platform) Pause(ctx context.Context, u platform.Unit) (platform.Effect, error) {
	return p.signal(ctx, u, sigStop, "pause")
}

// Unpause sends SIGCONT to the processes Pause stopped; a pod that is gone
// has nothing to thaw.
func (p *Platform) Unpause(ctx context.Context, u platform.Unit) error {
	_, err := p.signal(ctx, u, sigCont, "unpause")
	if errors.Is(err, platform.ErrNotFound) {
		return nil
	}
	return err
}

// signalScript sends signal number $1 to every process of the target
// container but its process 1: those in the same cgroup as process 1 of the
// shared process namespace (drill's own containers have cgroups of their
// own). It prints the pod's clock first: when the container's init exits
// because its child died, the kernel kills every process of the namespace,
// the script too (exit 137), after the signal has done its work. The kernel ignores SIGKILL (9) and
// SIGSTOP (19) sent to a namespace's process 1 from inside it: when process
// 1 is Patroni or PostgreSQL itself, the fault cannot be done this way, and
// the script says so (exit 3).
const signalScript = `sig=$1
init=$(tr '\0' ' ' </proc/1/cmdline)
set -- $init
prog=${1##*/}
case "$prog" in python*) prog=${2##*/};; esac
case "$sig:$prog" in
  9:patroni|9:postgres|19:patroni|19:postgres)
    echo "process 1 of the container is $init: the kernel ignores signal $sig sent to it from inside the pod; run Patroni under an init (dumb-init, tini), or delete the pod instead" >&2; exit 3;;
esac
cg=$(cat /proc/1/cgroup)
date +%s.%N
n=0
for d in /proc/[0-9]*; do
  pid=${d#/proc/}
  [ "$pid" = 1 ] && continue
  [ "$(cat "$d/cgroup" 2>/dev/null)" = "$cg" ] || continue
  kill -"$sig" "$pid" 2>/dev/null && n=$((n+1))
done
[ "$n" -gt 0 ] || { echo "no process to signal besides process 1 ($init)" >&2; exit 4; }`

// The signals Pause and Unpause send.
const (
	sigStop signal.Signal = 19
	sigCont signal.Signal = 18
)

func (p *Platform) signal(ctx context.Context, u platform.Unit, sig signal.Signal, what string) (platform.Effect, error) {
	res, err := p.inAgent(ctx, u.Service, agentSignal, []string{"sh", "-c", signalScript, "drill-signal", strconv.Itoa(int(sig))}, nil)
	if err != nil {
		return platform.Effect{}, fmt.Errorf("%s pod %s: %w", what, u.Service, err)
	}
	at, clock := parseClock(res.Stdout)
	switch {
	case res.ExitCode == 137 && clock:
		// The container's end took the script with it: the kill worked.
		return platform.Effect{At: at, Source: "the pod's clock just before the signal (the container ended, drill's shell with it)"}, nil
	case res.ExitCode != 0:
		return platform.Effect{}, fmt.Errorf("%s pod %s: exit %d: %s", what, u.Service, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	case clock:
		return platform.Effect{At: at, Source: "the pod's clock just before the signal"}, nil
	}
	return platform.Effect{At: time.Now(), Source: "drill's clock after the signal (the pod printed no time)"}, nil
}

// parseClock reads the first line of out as `date +%s.%N`.
func parseClock(out []byte) (time.Time, bool) {
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	sec, frac, ok := strings.Cut(strings.TrimSpace(first), ".")
	if !ok {
		return time.Time{}, false
	}
	s, err1 := strconv.ParseInt(sec, 10, 64)
	ns, err2 := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, false
	}
	return time.Unix(s, ns), true
}

// Exec runs argv in the pod's Patroni container.
func (p *Platform) Exec(ctx context.Context, u platform.Unit, argv []string, stdin []byte) (platform.ExecResult, error) {
	pod, err := p.pod(ctx, u.Service)
	if err != nil {
		return platform.ExecResult{}, err
	}
	c, err := p.container(pod)
	if err != nil {
		return platform.ExecResult{}, err
	}
	res, err := p.client.Exec(ctx, u.Service, c, argv, stdin)
	return platform.ExecResult{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

// ExecAdmin is Exec: pods/exec runs as the container's user, which owns
// Patroni's processes and files; the pod allows no more.
func (p *Platform) ExecAdmin(ctx context.Context, u platform.Unit, argv []string, stdin []byte) (platform.ExecResult, error) {
	return p.Exec(ctx, u, argv, stdin)
}

// Logs is what the Patroni container logged since the given time, each
// line with its timestamp.
func (p *Platform) Logs(ctx context.Context, u platform.Unit, since time.Time) ([]byte, error) {
	pod, err := p.pod(ctx, u.Service)
	if err != nil {
		return nil, err
	}
	c, err := p.container(pod)
	if err != nil {
		return nil, err
	}
	return p.client.Logs(ctx, u.Service, c, since)
}

// NetExec runs argv in the pod's drill-net container (NET_ADMIN in the
// pod's network namespace). A pod that is gone has no namespace.
func (p *Platform) NetExec(ctx context.Context, key string, argv []string, stdin []byte) ([]byte, error) {
	res, err := p.inAgent(ctx, key, agentNet, argv, stdin)
	if err != nil {
		if errors.Is(err, platform.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", netfault.ErrNoNamespace, err)
		}
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("%s in pod %s: exit %d: %s", argv[0], key, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return res.Stdout, nil
}

// Attachment is the pod's IP address.
func (p *Platform) Attachment(ctx context.Context, u platform.Unit, network string) (platform.Attachment, error) {
	pod, err := p.pod(ctx, u.Service)
	if err != nil {
		return platform.Attachment{}, err
	}
	ip, err := netip.ParseAddr(pod.IP)
	if err != nil {
		return platform.Attachment{}, fmt.Errorf("pod %s has no IP address yet (phase %s)", u.Service, pod.Phase)
	}
	return platform.Attachment{Network: podNetwork, IP: ip}, nil
}

// podNetwork is the name of the one network of the platform.
const podNetwork = "pods"

// Network is the pod network: the block's pod_cidr, else the nodes'
// podCIDRs. drill reaches pods through the API server, so it keeps no
// gateway.
func (p *Platform) Network(ctx context.Context, name string) (platform.Network, error) {
	cidrs := []string{p.spec.PodCIDR}
	if p.spec.PodCIDR == "" {
		var err error
		if cidrs, err = p.client.PodCIDRs(ctx); err != nil {
			return platform.Network{}, err
		}
	}
	n := platform.Network{Name: podNetwork}
	for _, c := range cidrs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return platform.Network{}, fmt.Errorf("pod address range %q: %w", c, err)
		}
		n.Subnets = append(n.Subnets, pfx.Masked())
	}
	if len(n.Subnets) == 0 {
		return platform.Network{}, fmt.Errorf("the nodes of %s give no pod address range (or drill may not list nodes): set kubernetes.pod_cidr", p.client.Server())
	}
	return n, nil
}

// Arm has the pod's drill-net container remove every drill rule once d has
// passed, replacing an earlier deadline: the pod heals itself even when a
// partition cut drill off.
func (p *Platform) Arm(ctx context.Context, u platform.Unit, d time.Duration) error {
	secs := max(int(d.Seconds()), 1)
	_, err := p.NetExec(ctx, u.Key(), []string{"sh", "-c", fmt.Sprintf("echo $(( $(date +%%s) + %d )) >%s.new && mv %[2]s.new %[2]s", secs, deadlineFile)}, nil)
	return err
}

// Disarm cancels the deadline; none is fine.
func (p *Platform) Disarm(ctx context.Context, u platform.Unit) error {
	_, err := p.NetExec(ctx, u.Key(), []string{"rm", "-f", deadlineFile}, nil)
	if errors.Is(err, netfault.ErrNoNamespace) {
		return nil
	}
	return err
}

// Noun is what a unit of the platform is, for drill status.
func (p *Platform) Noun() string { return "pod" }

// State describes a pod in a word or two, for drill status: "running",
// "deleted", "being deleted", its phase, or why its Patroni container is
// not running.
func (p *Platform) State(ctx context.Context, name string) (string, error) {
	pod, err := p.client.Pod(ctx, name)
	switch {
	case errors.Is(err, kube.ErrNotFound):
		return "deleted", nil
	case err != nil:
		return "unreachable: " + err.Error(), nil
	case pod.Deleting:
		return "being deleted", nil
	}
	c, err := p.container(pod)
	if err != nil {
		return "", err
	}
	if _, running := pod.Running[c]; running {
		return "running", nil
	}
	return fmt.Sprintf("%s, container %s not running (%d restarts)", strings.ToLower(pod.Phase), c, pod.Restarts[c]), nil
}
