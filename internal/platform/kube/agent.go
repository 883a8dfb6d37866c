package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/drill-dev/drill/internal/client/kube"
	"github.com/drill-dev/drill/internal/netfault"
)

// agentKind is what an ephemeral container of drill's is for.
type agentKind string

const (
	// agentSignal shares the Patroni container's process namespace, to
	// signal its processes.
	agentSignal agentKind = "drill-sig"
	// agentNet has NET_ADMIN in the pod's network namespace, for iptables
	// and tc, and heals by itself at the dead-man deadline.
	agentNet agentKind = "drill-net"
)

// deadlineFile holds the dead-man deadline (Unix seconds) in drill-net.
const deadlineFile = "/tmp/drill-heal-at"

// agentScript is what every agent container runs: it idles, and once the
// deadline in deadlineFile has passed it removes drill's network rules and
// the file. It is in every agent so that the deadline also works in a
// container drill added before; without NET_ADMIN the heal fails harmlessly.
var agentScript = `trap 'exit 0' TERM INT
while :; do
  if [ -f ` + deadlineFile + ` ] && [ "$(date +%s)" -ge "$(cat ` + deadlineFile + `)" ]; then
    echo "drill: undo deadline passed: removing drill's network rules"
` + netfault.HealScript() + `    rm -f ` + deadlineFile + `
  fi
  sleep 1
done`

// agentStart bounds adding an agent and waiting for it to run (an image
// pull on the node included).
const agentStart = 2 * time.Minute

// inAgent runs argv in the pod's agent of the kind, adding the agent first
// when the pod has none running.
func (p *Platform) inAgent(ctx context.Context, podName string, kind agentKind, argv []string, stdin []byte) (kube.ExecResult, error) {
	pod, err := p.pod(ctx, podName)
	if err != nil {
		return kube.ExecResult{}, err
	}
	name, err := p.agent(ctx, pod, kind)
	if err != nil {
		return kube.ExecResult{}, err
	}
	return p.client.Exec(ctx, podName, name, argv, stdin)
}

// agent returns the name of a running agent of the kind in the pod: one
// drill added before (to this pod, by its UID) if it still runs, else a new
// one named after the kind with the first free suffix.
func (p *Platform) agent(ctx context.Context, pod kube.Pod, kind agentKind) (string, error) {
	key := pod.UID + "/" + string(kind)
	p.mu.Lock()
	known, ok := p.agents[key]
	p.mu.Unlock()
	if ok {
		if _, running := pod.Running[known]; running {
			return known, nil
		}
	}
	target, err := p.container(pod)
	if err != nil {
		return "", err
	}
	name := ""
	for i := 1; name == ""; i++ {
		candidate := string(kind)
		if i > 1 {
			candidate = fmt.Sprintf("%s-%d", kind, i)
		}
		st, exists := pod.Ephemeral[candidate]
		switch {
		case !exists:
			name = candidate
			if err := p.add(ctx, pod.Name, kube.Agent{Name: name, Image: p.spec.AgentImage, Target: target, NetAdmin: kind == agentNet}); err != nil {
				return "", err
			}
			p.log.Info("added an ephemeral container to the pod", "pod", pod.Name, "container", name, "image", p.spec.AgentImage)
		case strings.HasPrefix(st, "terminated"):
			continue // it ended: ephemeral containers do not restart
		default:
			name = candidate // drill's, from an earlier run: wait for it
		}
	}
	wctx, cancel := context.WithTimeout(ctx, agentStart)
	defer cancel()
	if _, err := p.client.WaitRunning(wctx, pod.Name, name); err != nil {
		return "", fmt.Errorf("drill's ephemeral container: %w", err)
	}
	p.mu.Lock()
	p.agents[key] = name
	p.mu.Unlock()
	return name, nil
}

func (p *Platform) add(ctx context.Context, pod string, a kube.Agent) error {
	if p.spec.AgentImage == "" {
		return fmt.Errorf("pod %s: drill needs an ephemeral container for this fault: set kubernetes.agent_image to an image the nodes can pull that has sh, cat, tr, sed, date, kill, sleep, iptables and tc", pod)
	}
	a.Command = []string{"sh", "-c", agentScript}
	return p.client.AddAgent(ctx, pod, a)
}

// sleep waits d, or returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
