package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/docker"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/netfault"
)

// The network kinds: take containers off a compose network and put them
// back, partition groups of containers with iptables rules in their network
// namespaces, and delay or drop their packets with tc netem.

// Undo operations of the network faults.
const (
	opConnect       = "network.connect"
	opHealPartition = "network.heal_partition"
	opHealNetem     = "network.heal_netem"
)

func init() {
	Register(Kind{
		Name:    "network.disconnect",
		Summary: "take the containers of a compose service off a network",
		Doc: "Detaches each container from the compose network (docker network disconnect): its address and DNS " +
			"names there are gone, a full isolation of the node. drill saves the attachment (aliases, static " +
			"addresses) first, so network.connect and the end of the run restore it and the service name resolves again.",
		Example: "kind: network.disconnect\ntarget: leader\nnetwork: cluster",
		New:     func() Step { return &NetworkDisconnect{} },
		Timeout: 30 * time.Second,
		Metrics: faultMetrics,
		Fault:   true,
	})
	Register(Kind{
		Name:    "network.connect",
		Summary: "put the containers of a compose service back on a network",
		Doc: "Attaches each container to the network again with the aliases network.disconnect saved (else the " +
			"service name), and marks the disconnect undone. A container already attached is left alone. The " +
			"network defaults to cluster.network, else the one the scenario disconnected the container from, else " +
			"the project's only network. A role is resolved when the step runs: name the service (e.g. " +
			"${cut.service}) to put back what an earlier step took off.",
		Example: "kind: network.connect\ntarget: ${cut.service}",
		New:     func() Step { return &NetworkConnect{} },
		Timeout: 30 * time.Second,
	})
	Register(Kind{
		Name:    "network.partition",
		Summary: "split containers into groups that cannot reach each other",
		Doc: "Installs iptables rules in each container's network namespace (through exec where its image has " +
			"iptables, else through a helper container sharing the namespace, see cluster.helper_image) so that " +
			"each group reaches only itself; containers in no group still reach everyone. Established connections " +
			"are cut too. With one_way, the first group can no longer reach the second while connections the " +
			"second opens still work. With allow_host (the default) the host, and so drill, still reaches every " +
			"side; without it every group is also cut from the host. Undone by network.heal or the end of the run.",
		Example: "kind: network.partition\ngroups:\n  - [leader]\n  - [replica, etcd]",
		New:     func() Step { return &NetworkPartition{AllowHost: true} },
		Metrics: faultMetrics,
		Fault:   true,
	})
	Register(Kind{
		Name:    "network.heal",
		Summary: "remove partitions, delays and losses",
		Doc: "Without targets, removes every partition, delay and loss this scenario made and still holds; with " +
			"targets, removes every drill rule and qdisc from those containers. The faults it removes entirely are " +
			"marked undone. Healing what is already healed succeeds.",
		Example: "kind: network.heal",
		New:     func() Step { return &NetworkHeal{} },
	})
	Register(Kind{
		Name:    "network.delay",
		Summary: "delay the packets a container sends",
		Doc: "Adds delay (± jitter) to the packets each container sends on the network, with tc netem in its " +
			"namespace; towards limits it to packets for the given targets. With duration the step waits that " +
			"long and removes the delay itself; without it the delay stays until network.heal or the end of the " +
			"run. Needs the kernel's netem and prio qdiscs: where they are missing the step fails and says so.",
		Example: "kind: network.delay\ntarget: leader\ndelay: 200ms\njitter: 20ms\ntowards: [replica]\nduration: 30s",
		New:     func() Step { return &NetworkDelay{} },
		Metrics: faultMetrics,
		Fault:   true,
	})
	Register(Kind{
		Name:    "network.loss",
		Summary: "drop a share of the packets a container sends",
		Doc: "Drops loss percent of the packets each container sends on the network, with tc netem in its " +
			"namespace; towards limits it to packets for the given targets. With duration the step waits that " +
			"long and removes the loss itself; without it the loss stays until network.heal or the end of the run. " +
			"Needs the kernel's netem and prio qdiscs: where they are missing the step fails and says so.",
		Example: "kind: network.loss\ntarget: replica\nloss: 30\nduration: 1m",
		New:     func() Step { return &NetworkLoss{} },
		Metrics: faultMetrics,
		Fault:   true,
	})
	registerHeal(opHealPartition, "remove the partition rules of", netfault.HealPartition)
	registerHeal(opHealNetem, "remove the delay or loss of", netfault.HealNetem)
	RegisterUndo(opConnect, func(ctx context.Context, infra *Infra, raw json.RawMessage) error {
		return projectUndo(ctx, infra, opConnect, raw, func(p *docker.Project, a undoArgs) error {
			if a.Endpoint == nil {
				return fmt.Errorf("%s: the ledger entry has no endpoint to restore: %s", opConnect, raw)
			}
			var errs []error
			for _, c := range a.Containers {
				if err := p.Connect(ctx, c.target(), *a.Endpoint); err != nil {
					errs = append(errs, c.failed("reconnect", err))
				}
			}
			return errors.Join(errs...)
		})
	})
}

// registerHeal registers an undo that runs heal (idempotent) on every
// container of its ledger entry at once.
func registerHeal(op, verb string, heal func(ctx context.Context, ex netfault.NetExecer, targets ...string) error) {
	RegisterUndo(op, func(ctx context.Context, infra *Infra, raw json.RawMessage) error {
		return projectUndo(ctx, infra, op, raw, func(p *docker.Project, a undoArgs) error {
			var targets, names []string
			for _, c := range a.Containers {
				targets, names = append(targets, c.target().String()), append(names, c.Name)
			}
			if err := heal(ctx, p, targets...); err != nil {
				return fmt.Errorf("cannot %s %s: %w", verb, strings.Join(names, ", "), err)
			}
			return nil
		})
	})
}

// NetworkDisconnect takes containers off a network.
type NetworkDisconnect struct {
	Target  string `yaml:"target" required:"true" doc:"what to isolate: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Network string `yaml:"network" doc:"compose network name (default: cluster.network, else the container's only network)"`
	Keep    bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target and index.
func (s *NetworkDisconnect) Validate() error { return validateContainer(s.Target, s.Index) }

// Run saves each container's attachment, then detaches it; undone by
// connecting it again with the saved aliases.
func (s *NetworkDisconnect) Run(ctx context.Context, env *Env) error {
	p, vs, err := resolveVictims(ctx, env, s.Target, s.Index)
	if err != nil {
		return err
	}
	eps := make([]docker.Endpoint, len(vs))
	for i, v := range vs {
		at, err := attachment(ctx, env, p, v, s.Network)
		if err != nil {
			return err
		}
		if eps[i], err = p.Endpoint(ctx, v.target, at.Network); err != nil {
			return err
		}
	}
	if err := prepareFault(ctx, env, vs); err != nil {
		return err
	}
	mem := scenarioNet(env.Infra)
	err = eachVictim(vs, func(i int, v victim) error {
		ep := eps[i]
		key := v.key() + "/" + ep.Network
		mem.saveEndpoint(key, ep)
		fault := Fault{
			Desc:   fmt.Sprintf("disconnect %s from network %q (aliases %s)", v, ep.Network, strings.Join(ep.Aliases, ", ")),
			Target: key, Undo: undoAction(opConnect, env, p, &ep, v), Keep: s.Keep,
		}
		err := env.Faults.Inject(ctx, fault, func(ctx context.Context) error { return p.Disconnect(ctx, v.target, ep.Network) })
		if err == nil {
			env.Logf("%s", fault.Desc)
		}
		return err
	})
	if err != nil {
		return err
	}
	return faultApplied(env)
}

// NetworkConnect puts containers back on a network.
type NetworkConnect struct {
	Target  string `yaml:"target" required:"true" doc:"what to reconnect: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Network string `yaml:"network" doc:"compose network name (default: cluster.network, else the network the scenario disconnected it from, else the project's only network)"`
}

// Validate checks the target and index.
func (s *NetworkConnect) Validate() error { return validateContainer(s.Target, s.Index) }

// Run attaches each container with its saved endpoint and marks the
// disconnect undone.
func (s *NetworkConnect) Run(ctx context.Context, env *Env) error {
	p, vs, err := resolveVictims(ctx, env, s.Target, s.Index)
	if err != nil {
		return err
	}
	mem := scenarioNet(env.Infra)
	return eachVictim(vs, func(_ int, v victim) error {
		name, err := s.network(ctx, env, p, mem, v)
		if err != nil {
			return err
		}
		key := v.key() + "/" + name
		ep, ok := mem.endpoint(key)
		if !ok {
			ep = docker.Endpoint{Network: name, Aliases: []string{v.target.Service}}
		}
		if err := p.Connect(ctx, v.target, ep); err != nil {
			return err
		}
		env.Logf("connected %s to network %q (aliases %s)", v, name, strings.Join(ep.Aliases, ", "))
		mem.forgetEndpoint(key)
		return env.Faults.Resolved(opConnect, key)
	})
}

// network picks the compose network to connect v to.
func (s *NetworkConnect) network(ctx context.Context, env *Env, p *docker.Project, mem *netMemory, v victim) (string, error) {
	name := s.Network
	if name == "" {
		name = env.Infra.Cluster.Network
	}
	if name == "" {
		switch cut := mem.disconnected(v.key()); len(cut) {
		case 1:
			return cut[0], nil
		case 0:
		default:
			return "", fmt.Errorf("the scenario disconnected %s from several networks (%s): say which with network: or cluster.network", v, strings.Join(cut, ", "))
		}
		all, err := p.Networks(ctx)
		if err != nil {
			return "", err
		}
		if len(all) != 1 {
			return "", fmt.Errorf("compose project %q has %d networks (%s): say which with network: or cluster.network", p.Name(), len(all), strings.Join(all, ", "))
		}
		return all[0], nil
	}
	info, err := p.Network(ctx, name)
	if err != nil {
		return "", err
	}
	return info.Name, nil
}

// NetworkPartition cuts groups of containers off from each other.
type NetworkPartition struct {
	Groups    [][]string `yaml:"groups" required:"true" doc:"two or more lists of targets (services, roles, or service#N for one container of a scaled service); each group reaches only itself"`
	OneWay    bool       `yaml:"one_way" doc:"only the first group loses the second (needs exactly two groups); connections the second opens still work"`
	AllowHost bool       `yaml:"allow_host" doc:"the host (and so drill) still reaches every group; false cuts the groups from the host too"`
	Network   string     `yaml:"network" doc:"compose network to cut (default: cluster.network, else the containers' only network)"`
	Keep      bool       `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the groups' shape: at least two, none empty, no target in
// two groups, exactly two when one way.
func (s *NetworkPartition) Validate() error {
	if len(s.Groups) < 2 {
		return FieldErrorf("groups", "needs at least two groups, e.g. [[leader], [replica, etcd]], found %d", len(s.Groups))
	}
	if s.OneWay && len(s.Groups) != 2 {
		return FieldErrorf("groups", "one_way needs exactly two groups (who cannot reach, who still can), found %d", len(s.Groups))
	}
	seen := map[string]int{}
	for i, g := range s.Groups {
		if len(g) == 0 {
			return FieldErrorf("groups", "group %d is empty", i+1)
		}
		for _, entry := range g {
			if _, _, err := splitEntry("groups", entry); err != nil {
				return err
			}
			if j, dup := seen[entry]; dup {
				return FieldErrorf("groups", "%q is in group %d and group %d: a container can be on one side only", entry, j, i+1)
			}
			seen[entry] = i + 1
		}
	}
	return nil
}

// Run resolves the groups to containers and their addresses, then applies
// the rules to every container at once; undone by healing them all.
func (s *NetworkPartition) Run(ctx context.Context, env *Env) error {
	p, err := env.Project(ctx)
	if err != nil {
		return err
	}
	groups := make([][]victim, len(s.Groups))
	where := map[string]int{}
	for i, g := range s.Groups {
		for _, entry := range g {
			vs, err := entryVictims(ctx, env, p, entry)
			if err != nil {
				return err
			}
			for _, v := range vs {
				if j, dup := where[v.key()]; dup && j != i {
					return fmt.Errorf("groups %d and %d both hold %s: a container can be on one side only", j+1, i+1, v)
				} else if !dup {
					where[v.key()] = i
					groups[i] = append(groups[i], v)
				}
			}
		}
	}
	part := netfault.Partition{OneWay: s.OneWay, Groups: make([][]netfault.Member, len(groups))}
	netName := s.Network
	for i, g := range groups {
		for _, v := range g {
			at, err := attachment(ctx, env, p, v, netName)
			if err != nil {
				return err
			}
			if netName == "" {
				netName = at.Network
			}
			part.Groups[i] = append(part.Groups[i], netfault.Member{Target: v.key(), Addrs: []netip.Addr{at.IP}})
		}
	}
	info, err := p.Network(ctx, netName)
	if err != nil {
		return err
	}
	host := "the host still reaches every side"
	if s.AllowHost {
		part.Keep = info.Gateways
	} else {
		host = "the groups are cut from the host too"
		if part.Network, part.Keep, err = cutFromHost(ctx, p, info, where); err != nil {
			return err
		}
	}
	if err := part.Validate(); err != nil {
		return err
	}
	if err := prepareFault(ctx, env, groups[0], groups[1:]...); err != nil {
		return err
	}
	all := slices.Concat(groups...)
	sides := make([]string, len(groups))
	for i, g := range groups {
		sides[i] = "[" + joinVictims(g) + "]"
	}
	way := "both ways"
	if s.OneWay {
		way = "one way: the first group cannot reach the second, which still reaches it"
	}
	fault := Fault{
		Desc:   fmt.Sprintf("partition network %q: %s (%s; %s)", info.Name, strings.Join(sides, " | "), way, host),
		Target: "partition " + keys(all), Undo: undoAction(opHealPartition, env, p, nil, all...), Keep: s.Keep,
	}
	scenarioNet(env.Infra).open(opHealPartition, fault.Target, all)
	if err := env.Faults.Inject(ctx, fault, func(ctx context.Context) error { return netfault.ApplyPartition(ctx, p, part) }); err != nil {
		return err
	}
	env.Logf("%s", fault.Desc)
	return faultApplied(env)
}

// cutFromHost returns what makes a partition cut its groups from the host
// too: the network's subnet, and the addresses of the project's containers
// in no group, which stay reachable.
func cutFromHost(ctx context.Context, p *docker.Project, info docker.NetworkInfo, grouped map[string]int) (netip.Prefix, []netip.Addr, error) {
	i := slices.IndexFunc(info.Subnets, func(s netip.Prefix) bool { return s.Addr().Is4() })
	if i < 0 {
		return netip.Prefix{}, nil, fmt.Errorf("network %q of compose project %q has no IPv4 subnet: cannot cut the host from it", info.Name, p.Name())
	}
	services, err := p.Services(ctx)
	if err != nil {
		return netip.Prefix{}, nil, err
	}
	var keep []netip.Addr
	for _, svc := range services {
		cs, err := p.Containers(ctx, svc)
		if err != nil {
			return netip.Prefix{}, nil, err
		}
		for _, c := range cs {
			if _, in := grouped[c.Target.String()]; in {
				continue
			}
			st, err := p.Inspect(ctx, c.Target)
			if err != nil {
				return netip.Prefix{}, nil, err
			}
			for _, n := range st.Networks {
				if n.EngineName == info.EngineName && n.IP.IsValid() {
					keep = append(keep, n.IP)
				}
			}
		}
	}
	return info.Subnets[i], keep, nil
}

// NetworkHeal removes partitions and netem faults.
type NetworkHeal struct {
	Targets []string `yaml:"targets" doc:"containers to heal (services, roles, or service#N); default: every partition, delay and loss this scenario made"`
}

// Validate checks the targets.
func (s *NetworkHeal) Validate() error {
	for _, t := range s.Targets {
		if _, _, err := splitEntry("targets", t); err != nil {
			return err
		}
	}
	return nil
}

// Run heals the containers and marks the faults it removed entirely undone.
func (s *NetworkHeal) Run(ctx context.Context, env *Env) error {
	mem := scenarioNet(env.Infra)
	p, err := env.Project(ctx)
	if err != nil {
		return err
	}
	var targets []string
	if len(s.Targets) == 0 {
		targets = mem.openTargets()
		if len(targets) == 0 {
			env.Logf("nothing to heal: this scenario holds no partition, delay or loss")
			return nil
		}
	}
	for _, entry := range s.Targets {
		vs, err := entryVictims(ctx, env, p, entry)
		if err != nil {
			return err
		}
		for _, v := range vs {
			targets = appendNew(targets, v.key())
		}
	}
	if err := netfault.Heal(ctx, p, targets...); err != nil {
		return err
	}
	env.Logf("healed %s", strings.Join(targets, ", "))
	for _, f := range mem.healed(targets) {
		if err := env.Faults.Resolved(f.op, f.target); err != nil {
			return err
		}
	}
	return nil
}

// NetworkDelay delays packets.
type NetworkDelay struct {
	Target   string        `yaml:"target" required:"true" doc:"whose packets to delay: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index    int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Delay    time.Duration `yaml:"delay" required:"true" doc:"added to every packet sent, e.g. 200ms"`
	Jitter   time.Duration `yaml:"jitter" doc:"the delay varies by up to this much either way"`
	Towards  []string      `yaml:"towards" doc:"only packets to these targets (services, roles, or service#N); default: all"`
	Duration time.Duration `yaml:"duration" doc:"remove the delay after this long; default: keep it until network.heal or the end of the run"`
	Network  string        `yaml:"network" doc:"compose network (default: cluster.network, else the container's only network)"`
	Keep     bool          `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target, delay and duration.
func (s *NetworkDelay) Validate() error {
	if s.Delay <= 0 {
		return FieldErrorf("delay", "must be more than 0")
	}
	return s.netem().validate()
}

// DefaultTimeout leaves room for the duration.
func (s *NetworkDelay) DefaultTimeout() time.Duration { return s.netem().timeout() }

// Run applies the delay.
func (s *NetworkDelay) Run(ctx context.Context, env *Env) error {
	what := "delay " + s.Delay.String()
	if s.Jitter > 0 {
		what += " ± " + s.Jitter.String()
	}
	return s.netem().run(ctx, env, what, netfault.Netem{Delay: s.Delay, Jitter: s.Jitter})
}

func (s *NetworkDelay) netem() netemStep {
	return netemStep{s.Target, s.Index, s.Towards, s.Duration, s.Network, s.Keep}
}

// NetworkLoss drops packets.
type NetworkLoss struct {
	Target   string        `yaml:"target" required:"true" doc:"whose packets to drop: a compose service, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index    int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Loss     float64       `yaml:"loss" required:"true" doc:"percent of the packets sent that are dropped, more than 0 and at most 100"`
	Towards  []string      `yaml:"towards" doc:"only packets to these targets (services, roles, or service#N); default: all"`
	Duration time.Duration `yaml:"duration" doc:"remove the loss after this long; default: keep it until network.heal or the end of the run"`
	Network  string        `yaml:"network" doc:"compose network (default: cluster.network, else the container's only network)"`
	Keep     bool          `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target, loss and duration.
func (s *NetworkLoss) Validate() error {
	if s.Loss <= 0 || s.Loss > 100 {
		return FieldErrorf("loss", "must be more than 0 and at most 100 (percent of packets dropped), found %s", metric.FormatNumber(s.Loss))
	}
	return s.netem().validate()
}

// DefaultTimeout leaves room for the duration.
func (s *NetworkLoss) DefaultTimeout() time.Duration { return s.netem().timeout() }

// Run applies the loss.
func (s *NetworkLoss) Run(ctx context.Context, env *Env) error {
	return s.netem().run(ctx, env, "drop "+metric.FormatNumber(s.Loss)+"% of the packets", netfault.Netem{Loss: s.Loss})
}

func (s *NetworkLoss) netem() netemStep {
	return netemStep{s.Target, s.Index, s.Towards, s.Duration, s.Network, s.Keep}
}

// netemStep is what network.delay and network.loss share.
type netemStep struct {
	target   string
	index    int
	towards  []string
	duration time.Duration
	network  string
	keep     bool
}

func (n netemStep) validate() error {
	if n.duration > 0 && n.keep {
		return FieldErrorf("keep", "contradicts duration: a fault with a duration is removed when it ends")
	}
	for _, t := range n.towards {
		if _, _, err := splitEntry("towards", t); err != nil {
			return err
		}
	}
	return validateContainer(n.target, n.index)
}

func (n netemStep) timeout() time.Duration { return n.duration + time.Minute }

// run applies shape (its delay, jitter and loss) to every container of the
// target, towards the chosen destinations; with a duration it waits, heals
// and marks the fault undone.
func (n netemStep) run(ctx context.Context, env *Env, what string, shape netfault.Netem) error {
	p, vs, err := resolveVictims(ctx, env, n.target, n.index)
	if err != nil {
		return err
	}
	shapes := make([]netfault.Netem, len(vs))
	netName := n.network
	for i, v := range vs {
		at, err := attachment(ctx, env, p, v, netName)
		if err != nil {
			return err
		}
		netName = at.Network
		shapes[i] = shape
		shapes[i].Target, shapes[i].Via = v.key(), at.IP
	}
	var dests []victim
	var to []netip.Addr
	for _, entry := range n.towards {
		ds, err := entryVictims(ctx, env, p, entry)
		if err != nil {
			return err
		}
		for _, d := range ds {
			at, err := attachment(ctx, env, p, d, netName)
			if err != nil {
				return err
			}
			dests, to = append(dests, d), append(to, at.IP)
		}
	}
	for i := range shapes {
		shapes[i].To = to
		if err := shapes[i].Validate(); err != nil {
			return err
		}
	}
	if err := prepareFault(ctx, env, vs); err != nil {
		return err
	}
	desc := fmt.Sprintf("%s sent by %s on network %q", what, joinVictims(vs), netName)
	if len(dests) > 0 {
		desc += " towards " + joinVictims(dests)
	}
	fault := Fault{Desc: desc, Target: "netem " + keys(vs), Undo: undoAction(opHealNetem, env, p, nil, vs...), Keep: n.keep}
	mem := scenarioNet(env.Infra)
	mem.open(opHealNetem, fault.Target, vs)
	err = env.Faults.Inject(ctx, fault, func(ctx context.Context) error {
		return eachVictim(vs, func(i int, _ victim) error { return netfault.ApplyNetem(ctx, p, shapes[i]) })
	})
	if err != nil {
		return err
	}
	env.Logf("%s", desc)
	if err := faultApplied(env); err != nil || n.duration == 0 {
		return err
	}
	env.Report("%s for %s", what, n.duration)
	select {
	case <-ctx.Done():
		return fmt.Errorf("interrupted while the fault lasted (it is undone at the end of the run): %w", ctx.Err())
	case <-time.After(n.duration):
	}
	if err := netfault.HealNetem(ctx, p, victimKeys(vs)...); err != nil {
		return fmt.Errorf("removing the %s after %s: %w", what, n.duration, err)
	}
	env.Logf("removed after %s", n.duration)
	mem.close(fault.Target)
	return env.Faults.Resolved(opHealNetem, fault.Target)
}

// splitEntry reads a target written in a list: a role, a service, or
// service#N for one container of a scaled service.
func splitEntry(field, entry string) (string, int, error) {
	if err := ValidateTarget(field, entry); err != nil {
		return "", 0, err
	}
	if IsRole(entry) || dsl.HasRefs(entry) || !strings.Contains(entry, "#") {
		return entry, 0, nil
	}
	t, err := docker.ParseTarget(entry)
	if err != nil {
		return "", 0, FieldErrorf(field, "%v", err)
	}
	return t.Service, t.Number, nil
}

// entryVictims resolves a list entry to containers.
func entryVictims(ctx context.Context, env *Env, p *docker.Project, entry string) ([]victim, error) {
	target, index, err := splitEntry("target", entry)
	if err != nil {
		return nil, err
	}
	return victimsOf(ctx, env, p, target, index)
}

// attachment returns v's attachment to the compose network named network;
// "" means cluster.network, else the container's only network.
func attachment(ctx context.Context, env *Env, p *docker.Project, v victim, network string) (docker.NetworkState, error) {
	st, err := p.Inspect(ctx, v.target)
	if err != nil {
		return docker.NetworkState{}, err
	}
	if network == "" {
		network = env.Infra.Cluster.Network
	}
	var names []string
	for _, n := range st.Networks {
		if n.Network == network || n.EngineName == network {
			return n, nil
		}
		names = append(names, n.Network)
	}
	switch {
	case network == "" && len(names) == 1:
		return st.Networks[0], nil
	case network == "" && len(names) == 0:
		return docker.NetworkState{}, fmt.Errorf("%s is on no network", v)
	case network == "":
		return docker.NetworkState{}, fmt.Errorf("%s is on several networks (%s): say which with network: or cluster.network", v, strings.Join(names, ", "))
	}
	if _, err := p.Network(ctx, network); err != nil {
		return docker.NetworkState{}, err
	}
	return docker.NetworkState{}, fmt.Errorf("%s is not on network %q (its networks: %s)", v, network, strings.Join(names, ", "))
}

func joinVictims(vs []victim) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, ", ")
}

func victimKeys(vs []victim) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.key()
	}
	return out
}

// keys names a set of containers in a fault's target: sorted, comma-separated.
func keys(vs []victim) string {
	return strings.Join(slices.Sorted(slices.Values(victimKeys(vs))), ",")
}

// netMemory remembers the network faults of one scenario run: the
// attachments network.disconnect saved (for network.connect) and the open
// partitions and netem faults (for network.heal). It is kept in the
// scenario's Infra, which the runner makes per scenario.
type netMemory struct {
	mu        sync.Mutex
	endpoints map[string]docker.Endpoint // by container key + "/" + network
	faults    []netFault
}

// netFault is an open partition or netem fault.
type netFault struct {
	op, target string   // as given to the ledger
	keys       []string // the containers holding its rules or qdiscs
}

func scenarioNet(infra *Infra) *netMemory {
	c, _ := infra.Client("steps.network-faults", func() (any, error) {
		return &netMemory{endpoints: map[string]docker.Endpoint{}}, nil
	})
	return c.(*netMemory)
}

func (m *netMemory) saveEndpoint(key string, ep docker.Endpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endpoints[key] = ep
}

func (m *netMemory) endpoint(key string) (docker.Endpoint, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ep, ok := m.endpoints[key]
	return ep, ok
}

func (m *netMemory) forgetEndpoint(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.endpoints, key)
}

// disconnected lists the networks the scenario took container key off.
func (m *netMemory) disconnected(key string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k, ep := range m.endpoints {
		if strings.HasPrefix(k, key+"/") {
			out = append(out, ep.Network)
		}
	}
	slices.Sort(out)
	return out
}

func (m *netMemory) open(op, target string, vs []victim) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = append(m.faults, netFault{op: op, target: target, keys: victimKeys(vs)})
}

// close forgets the fault with the given target, removed by its own step.
func (m *netMemory) close(target string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.faults = slices.DeleteFunc(m.faults, func(f netFault) bool { return f.target == target })
}

// openTargets lists the containers holding open faults.
func (m *netMemory) openTargets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, f := range m.faults {
		for _, k := range f.keys {
			out = appendNew(out, k)
		}
	}
	return out
}

// healed forgets and returns the faults whose every container is in
// healed: those are gone entirely.
func (m *netMemory) healed(healed []string) []netFault {
	m.mu.Lock()
	defer m.mu.Unlock()
	var gone []netFault
	m.faults = slices.DeleteFunc(m.faults, func(f netFault) bool {
		all := !slices.ContainsFunc(f.keys, func(k string) bool { return !slices.Contains(healed, k) })
		if all {
			gone = append(gone, f)
		}
		return all
	})
	return gone
}
