package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/steps"
)

// Undo operations of the network faults.
const (
	opConnect       = "network.connect"
	opHealPartition = "network.heal_partition"
	opHealNetem     = "network.heal_netem"
)

func init() {
	steps.Register(steps.Kind{
		Name:    "network.disconnect",
		Needs:   []platform.Capability{platform.Detach},
		Summary: "take the containers of a compose service off a network",
		Doc: "Detaches each container from the compose network (docker network disconnect): its address and DNS " +
			"names there are gone, a full isolation of the node. drill saves the attachment (aliases, static " +
			"addresses) first, so network.connect and the end of the run restore it and the service name resolves again.",
		Example: "kind: network.disconnect\ntarget: leader\nnetwork: cluster",
		New:     func() steps.Step { return &NetworkDisconnect{} },
		Timeout: 30 * time.Second,
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "network.connect",
		Needs:   []platform.Capability{platform.Detach},
		Summary: "put the containers of a compose service back on a network",
		Doc: "Attaches each container to the network again with the aliases network.disconnect saved (else the " +
			"service name), and marks the disconnect undone. A container already attached is left alone. The " +
			"network defaults to cluster.network, else the one the scenario disconnected the container from, else " +
			"the project's only network. A role is resolved when the step runs: name the service (e.g. " +
			"${cut.service}) to put back what an earlier step took off.",
		Example: "kind: network.connect\ntarget: ${cut.service}",
		New:     func() steps.Step { return &NetworkConnect{} },
		Timeout: 30 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "network.partition",
		Needs:   []platform.Capability{platform.NetRules},
		Summary: "split containers into groups that cannot reach each other",
		Doc: "Installs iptables rules in each container's network namespace (through exec where its image has " +
			"iptables, else through a helper container sharing the namespace, see cluster.helper_image) so that " +
			"each group reaches only itself; containers in no group still reach everyone. Established connections " +
			"are cut too. With one_way, the first group can no longer reach the second while connections the " +
			"second opens still work. With allow_host (the default) the host, and so drill, still reaches every " +
			"side; without it every group is also cut from the host. Undone by network.heal or the end of the run.",
		Example: "kind: network.partition\ngroups:\n  - [leader]\n  - [replica, etcd]",
		New:     func() steps.Step { return &NetworkPartition{AllowHost: true} },
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "network.heal",
		Needs:   []platform.Capability{platform.NetRules},
		Summary: "remove partitions, delays and losses",
		Doc: "Without targets, removes every partition, delay and loss this scenario made and still holds; with " +
			"targets, removes every drill rule and qdisc from those containers. The faults it removes entirely are " +
			"marked undone. Healing what is already healed succeeds.",
		Example: "kind: network.heal",
		New:     func() steps.Step { return &NetworkHeal{} },
	})
	steps.Register(steps.Kind{
		Name:    "network.delay",
		Needs:   []platform.Capability{platform.NetRules},
		Summary: "delay the packets a container sends",
		Doc: "Adds delay (± jitter) to the packets each container sends on the network, with tc netem in its " +
			"namespace; towards limits it to packets for the given targets. With duration the step waits that " +
			"long and removes the delay itself; without it the delay stays until network.heal or the end of the " +
			"run. Needs the kernel's netem and prio qdiscs: where they are missing the step fails and says so.",
		Example: "kind: network.delay\ntarget: leader\ndelay: 200ms\njitter: 20ms\ntowards: [replica]\nduration: 30s",
		New:     func() steps.Step { return &NetworkDelay{} },
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	steps.Register(steps.Kind{
		Name:    "network.loss",
		Needs:   []platform.Capability{platform.NetRules},
		Summary: "drop a share of the packets a container sends",
		Doc: "Drops loss percent of the packets each container sends on the network, with tc netem in its " +
			"namespace; towards limits it to packets for the given targets. With duration the step waits that " +
			"long and removes the loss itself; without it the loss stays until network.heal or the end of the run. " +
			"Needs the kernel's netem and prio qdiscs: where they are missing the step fails and says so.",
		Example: "kind: network.loss\ntarget: replica\nloss: 30\nduration: 1m",
		New:     func() steps.Step { return &NetworkLoss{} },
		Metrics: steps.FaultMetrics,
		Fault:   true,
	})
	registerHeal(opHealPartition, "remove the partition rules of", netfault.HealPartition)
	registerHeal(opHealNetem, "remove the delay or loss of", netfault.HealNetem)
	fault.Register(opConnect, func(ctx context.Context, c fault.Connector, raw json.RawMessage) error {
		return steps.OnPlatform(ctx, c, opConnect, raw, func(p platform.Platform, a steps.UndoArgs) error {
			if a.Endpoint == nil {
				return fmt.Errorf("%s: the ledger entry has no endpoint to restore: %s", opConnect, raw)
			}
			d, err := detacher(p)
			if err != nil {
				return err
			}
			var errs []error
			for _, u := range a.Units {
				if err := d.Connect(ctx, u.Unit(), *a.Endpoint); err != nil {
					errs = append(errs, steps.UndoFailed(u, "reconnect", err))
				}
			}
			return errors.Join(errs...)
		})
	})
}

// registerHeal registers an undo that runs heal (idempotent) on every
// container of its ledger entry at once.
func registerHeal(op, verb string, heal func(ctx context.Context, ex netfault.NetExecer, targets ...string) ([]string, error)) {
	fault.Register(op, func(ctx context.Context, c fault.Connector, raw json.RawMessage) error {
		return steps.OnPlatform(ctx, c, op, raw, func(p platform.Platform, a steps.UndoArgs) error {
			var targets, names []string
			for _, u := range a.Units {
				targets, names = append(targets, u.Unit().Key()), append(names, u.Name)
			}
			if _, err := heal(ctx, p, targets...); err != nil {
				return fmt.Errorf("cannot %s %s: %w", verb, strings.Join(names, ", "), err)
			}
			return disarmDeadMan(ctx, p, targets)
		})
	})
}

// NetworkDisconnect takes containers off a network.
type NetworkDisconnect struct {
	Target  string `yaml:"target" target:"unit" required:"true" doc:"what to isolate: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Network string `yaml:"network" doc:"compose network name (default: cluster.network, else the container's only network)"`
	Keep    bool   `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
}

// Validate checks the target and index.
func (s *NetworkDisconnect) Validate() error { return steps.ValidateUnit(s.Target, s.Index) }

// Run saves each container's attachment, then detaches it; undone by
// connecting it again with the saved aliases.
func (s *NetworkDisconnect) Run(ctx context.Context, env *steps.Env) error {
	d, vs, err := detachable(ctx, env, s.Target, s.Index)
	if err != nil {
		return err
	}
	eps := make([]platform.Endpoint, len(vs))
	for i, v := range vs {
		at, err := d.Attachment(ctx, v.Unit, s.Network)
		if err != nil {
			return err
		}
		if eps[i], err = d.Endpoint(ctx, v.Unit, at.Network); err != nil {
			return err
		}
	}
	if err := env.PrepareFault(ctx, vs); err != nil {
		return err
	}
	mem := scenarioNet(env)
	err = steps.EachVictim(vs, func(i int, v steps.Victim) error {
		ep := eps[i]
		key := v.Key() + "/" + ep.Network
		mem.saveEndpoint(key, ep)
		flt := fault.Fault{
			Desc:   fmt.Sprintf("disconnect %s from network %q (aliases %s)", v, ep.Network, strings.Join(ep.Aliases, ", ")),
			Target: key, Undo: steps.NewUndo(opConnect, d, &ep, v), Keep: s.Keep,
		}
		err := env.Faults.Inject(ctx, flt, func(ctx context.Context) error { return d.Disconnect(ctx, v.Unit, ep.Network) })
		if err == nil {
			env.Logf("%s", flt.Desc)
		}
		return err
	})
	if err != nil {
		return err
	}
	return env.FaultApplied()
}

// NetworkConnect puts containers back on a network.
type NetworkConnect struct {
	Target  string `yaml:"target" target:"unit" required:"true" doc:"what to reconnect: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index   int    `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Network string `yaml:"network" doc:"compose network name (default: cluster.network, else the network the scenario disconnected it from, else the project's only network)"`
}

// Validate checks the target and index.
func (s *NetworkConnect) Validate() error { return steps.ValidateUnit(s.Target, s.Index) }

// Run attaches each container with its saved endpoint and marks the
// disconnect undone.
func (s *NetworkConnect) Run(ctx context.Context, env *steps.Env) error {
	d, vs, err := detachable(ctx, env, s.Target, s.Index)
	if err != nil {
		return err
	}
	mem := scenarioNet(env)
	return steps.EachVictim(vs, func(_ int, v steps.Victim) error {
		name, err := s.network(ctx, env, d, mem, v)
		if err != nil {
			return err
		}
		key := v.Key() + "/" + name
		ep, ok := mem.endpoint(key)
		if !ok {
			ep = platform.Endpoint{Network: name, Aliases: []string{v.Unit.Service}}
		}
		if err := d.Connect(ctx, v.Unit, ep); err != nil {
			return err
		}
		env.Logf("connected %s to network %q (aliases %s)", v, name, strings.Join(ep.Aliases, ", "))
		mem.forgetEndpoint(key)
		return env.Faults.Resolved(opConnect, key)
	})
}

// network picks the compose network to connect v to.
func (s *NetworkConnect) network(ctx context.Context, env *steps.Env, p platform.Detacher, mem *netMemory, v steps.Victim) (string, error) {
	name := s.Network
	if name == "" {
		name = env.Cluster().Network
	}
	if name == "" {
		switch cut := mem.disconnected(v.Key()); len(cut) {
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
			return "", fmt.Errorf("%s has %d networks (%s): say which with network: or cluster.network", p.Ref(), len(all), strings.Join(all, ", "))
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
	Groups    [][]string `yaml:"groups" target:"unit" required:"true" doc:"two or more lists of targets (services, roles, or service#N for one container of a scaled service); each group reaches only itself"`
	OneWay    bool       `yaml:"one_way" doc:"only the first group loses the second (needs exactly two groups); connections the second opens still work"`
	AllowHost bool       `yaml:"allow_host" doc:"the host (and so drill) still reaches every group; false cuts the groups from the host too"`
	Network   string     `yaml:"network" doc:"compose network to cut (default: cluster.network, else the containers' only network)"`
	Keep      bool       `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
	// UndoDeadline bounds how long the fault can outlive drill.
	UndoDeadline time.Duration `yaml:"undo_deadline" doc:"on platforms that can (hosts), the target heals itself this long after the fault even if drill cannot reach it (default: the run's remaining time plus 5 minutes, else 30 minutes)"`
}

// Validate checks the groups' shape: at least two, none empty, no target in
// two groups, exactly two when one way.
func (s *NetworkPartition) Validate() error {
	if len(s.Groups) < 2 {
		return steps.FieldErrorf("groups", "needs at least two groups, e.g. [[leader], [replica, etcd]], found %d", len(s.Groups))
	}
	if s.OneWay && len(s.Groups) != 2 {
		return steps.FieldErrorf("groups", "one_way needs exactly two groups (who cannot reach, who still can), found %d", len(s.Groups))
	}
	seen := map[string]int{}
	for i, g := range s.Groups {
		if len(g) == 0 {
			return steps.FieldErrorf("groups", "group %d is empty", i+1)
		}
		for _, entry := range g {
			if _, _, err := splitEntry("groups", entry); err != nil {
				return err
			}
			if j, dup := seen[entry]; dup {
				return steps.FieldErrorf("groups", "%q is in group %d and group %d: a container can be on one side only", entry, j, i+1)
			}
			seen[entry] = i + 1
		}
	}
	return nil
}

// Run resolves the groups to containers and their addresses, then applies
// the rules to every container at once; undone by healing them all.
func (s *NetworkPartition) Run(ctx context.Context, env *steps.Env) error {
	p, err := env.Ports.Platform(ctx)
	if err != nil {
		return err
	}
	groups := make([][]steps.Victim, len(s.Groups))
	where := map[string]int{}
	for i, g := range s.Groups {
		for _, entry := range g {
			vs, err := entryVictims(ctx, env, p, entry)
			if err != nil {
				return err
			}
			for _, v := range vs {
				if j, dup := where[v.Key()]; dup && j != i {
					return fmt.Errorf("groups %d and %d both hold %s: a container can be on one side only", j+1, i+1, v)
				} else if !dup {
					where[v.Key()] = i
					groups[i] = append(groups[i], v)
				}
			}
		}
	}
	part := netfault.Partition{OneWay: s.OneWay, Groups: make([][]netfault.Member, len(groups))}
	netName := s.Network
	for i, g := range groups {
		for _, v := range g {
			at, err := p.Attachment(ctx, v.Unit, netName)
			if err != nil {
				return err
			}
			if netName == "" {
				netName = at.Network
			}
			part.Groups[i] = append(part.Groups[i], netfault.Member{Target: v.Key(), Addrs: []netip.Addr{at.IP}})
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
	if err := env.PrepareFault(ctx, groups[0], groups[1:]...); err != nil {
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
	flt := fault.Fault{
		Desc:   fmt.Sprintf("partition network %q: %s (%s; %s)", info.Name, strings.Join(sides, " | "), way, host),
		Target: "partition " + keys(all), Undo: steps.NewUndo(opHealPartition, p, nil, all...), Keep: s.Keep,
	}
	scenarioNet(env).open(opHealPartition, flt.Target, all)
	apply := func(ctx context.Context) error {
		if err := armDeadMan(ctx, env, p, all, s.UndoDeadline, s.Keep); err != nil {
			return err
		}
		return netfault.ApplyPartition(ctx, p, part)
	}
	if err := env.Faults.Inject(ctx, flt, apply); err != nil {
		return err
	}
	env.Logf("%s", flt.Desc)
	return env.FaultApplied()
}

// cutFromHost returns what makes a partition cut its groups from the host
// too: the network's subnet, and the addresses of the project's containers
// in no group, which stay reachable.
func cutFromHost(ctx context.Context, p platform.Platform, info platform.Network, grouped map[string]int) (netip.Prefix, []netip.Addr, error) {
	i := slices.IndexFunc(info.Subnets, func(s netip.Prefix) bool { return s.Addr().Is4() })
	if i < 0 {
		return netip.Prefix{}, nil, fmt.Errorf("network %q of %s has no IPv4 subnet: cannot cut the host from it", info.Name, p.Ref())
	}
	services, err := p.Services(ctx)
	if err != nil {
		return netip.Prefix{}, nil, err
	}
	var keep []netip.Addr
	for _, svc := range services {
		units, err := p.Units(ctx, svc)
		if err != nil {
			return netip.Prefix{}, nil, err
		}
		for _, u := range units {
			if _, in := grouped[u.Key()]; in {
				continue
			}
			// A unit that is not on the network has no address to keep.
			if at, err := p.Attachment(ctx, u, info.Name); err == nil && at.IP.IsValid() {
				keep = append(keep, at.IP)
			}
		}
	}
	return info.Subnets[i], keep, nil
}

// NetworkHeal removes partitions and netem faults.
type NetworkHeal struct {
	Targets []string `yaml:"targets" target:"unit" doc:"containers to heal (services, roles, or service#N); default: every partition, delay and loss this scenario made"`
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
func (s *NetworkHeal) Run(ctx context.Context, env *steps.Env) error {
	mem := scenarioNet(env)
	p, err := env.Ports.Platform(ctx)
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
			if !slices.Contains(targets, v.Key()) {
				targets = append(targets, v.Key())
			}
		}
	}
	gone, err := netfault.Heal(ctx, p, targets...)
	if err != nil {
		return err
	}
	if err := disarmDeadMan(ctx, p, targets); err != nil {
		return err
	}
	logGone(env, gone)
	env.Logf("healed %s", strings.Join(targets, ", "))
	for _, f := range mem.healed(targets) {
		if err := env.Faults.Resolved(f.op, f.target); err != nil {
			return err
		}
	}
	return nil
}

// logGone says which targets were not running when healed: their network
// namespace went with them, and with it drill's rules.
func logGone(env *steps.Env, gone []string) {
	for _, t := range gone {
		env.Logf("%s is not running: its network namespace is gone, and with it every rule drill put there; nothing to remove", t)
	}
}

// NetworkDelay delays packets.
type NetworkDelay struct {
	Target   string        `yaml:"target" target:"unit" required:"true" doc:"whose packets to delay: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index    int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Delay    time.Duration `yaml:"delay" required:"true" doc:"added to every packet sent, e.g. 200ms"`
	Jitter   time.Duration `yaml:"jitter" doc:"the delay varies by up to this much either way"`
	Towards  []string      `yaml:"towards" target:"unit" doc:"only packets to these targets (services, roles, or service#N); default: all"`
	Duration time.Duration `yaml:"duration" doc:"remove the delay after this long; default: keep it until network.heal or the end of the run"`
	Network  string        `yaml:"network" doc:"compose network (default: cluster.network, else the container's only network)"`
	Keep     bool          `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
	// UndoDeadline bounds how long the fault can outlive drill.
	UndoDeadline time.Duration `yaml:"undo_deadline" doc:"on platforms that can (hosts), the target heals itself this long after the fault even if drill cannot reach it (default: the run's remaining time plus 5 minutes, else 30 minutes)"`
}

// Validate checks the target, delay and duration.
func (s *NetworkDelay) Validate() error {
	if s.Delay <= 0 {
		return steps.FieldErrorf("delay", "must be more than 0")
	}
	return s.netem().validate()
}

// DefaultTimeout leaves room for the duration.
func (s *NetworkDelay) DefaultTimeout() time.Duration { return s.netem().timeout() }

// Run applies the delay.
func (s *NetworkDelay) Run(ctx context.Context, env *steps.Env) error {
	what := "delay " + s.Delay.String()
	if s.Jitter > 0 {
		what += " ± " + s.Jitter.String()
	}
	return s.netem().run(ctx, env, what, netfault.Netem{Delay: s.Delay, Jitter: s.Jitter})
}

func (s *NetworkDelay) netem() netemStep {
	return netemStep{s.Target, s.Index, s.Towards, s.Duration, s.Network, s.Keep, s.UndoDeadline}
}

// NetworkLoss drops packets.
type NetworkLoss struct {
	Target   string        `yaml:"target" target:"unit" required:"true" doc:"whose packets to drop: a compose service or host, a group of the cluster block, or leader, replica, any_replica, sync_standby or member:NAME"`
	Index    int           `yaml:"index" doc:"container number of a scaled service (default: every container of the service)"`
	Loss     float64       `yaml:"loss" required:"true" doc:"percent of the packets sent that are dropped, more than 0 and at most 100"`
	Towards  []string      `yaml:"towards" target:"unit" doc:"only packets to these targets (services, roles, or service#N); default: all"`
	Duration time.Duration `yaml:"duration" doc:"remove the loss after this long; default: keep it until network.heal or the end of the run"`
	Network  string        `yaml:"network" doc:"compose network (default: cluster.network, else the container's only network)"`
	Keep     bool          `yaml:"keep" doc:"leave the fault in place when the run ends; drill prints how to undo it"`
	// UndoDeadline bounds how long the fault can outlive drill.
	UndoDeadline time.Duration `yaml:"undo_deadline" doc:"on platforms that can (hosts), the target heals itself this long after the fault even if drill cannot reach it (default: the run's remaining time plus 5 minutes, else 30 minutes)"`
}

// Validate checks the target, loss and duration.
func (s *NetworkLoss) Validate() error {
	if s.Loss <= 0 || s.Loss > 100 {
		return steps.FieldErrorf("loss", "must be more than 0 and at most 100 (percent of packets dropped), found %s", metric.FormatNumber(s.Loss))
	}
	return s.netem().validate()
}

// DefaultTimeout leaves room for the duration.
func (s *NetworkLoss) DefaultTimeout() time.Duration { return s.netem().timeout() }

// Run applies the loss.
func (s *NetworkLoss) Run(ctx context.Context, env *steps.Env) error {
	return s.netem().run(ctx, env, "drop "+metric.FormatNumber(s.Loss)+"% of the packets", netfault.Netem{Loss: s.Loss})
}

func (s *NetworkLoss) netem() netemStep {
	return netemStep{s.Target, s.Index, s.Towards, s.Duration, s.Network, s.Keep, s.UndoDeadline}
}

// netemStep is what network.delay and network.loss share.
type netemStep struct {
	target   string
	index    int
	towards  []string
	duration time.Duration
	network  string
	keep     bool
	deadline time.Duration
}

func (n netemStep) validate() error {
	if n.duration > 0 && n.keep {
		return steps.FieldErrorf("keep", "contradicts duration: a fault with a duration is removed when it ends")
	}
	for _, t := range n.towards {
		if _, _, err := splitEntry("towards", t); err != nil {
			return err
		}
	}
	return steps.ValidateUnit(n.target, n.index)
}

func (n netemStep) timeout() time.Duration { return n.duration + time.Minute }

// run applies shape (its delay, jitter and loss) to every container of the
// target, towards the chosen destinations; with a duration it waits, heals
// and marks the fault undone.
func (n netemStep) run(ctx context.Context, env *steps.Env, what string, shape netfault.Netem) error {
	p, vs, err := env.Victims(ctx, n.target, n.index)
	if err != nil {
		return err
	}
	shapes := make([]netfault.Netem, len(vs))
	netName := n.network
	for i, v := range vs {
		at, err := p.Attachment(ctx, v.Unit, netName)
		if err != nil {
			return err
		}
		netName = at.Network
		shapes[i] = shape
		shapes[i].Target, shapes[i].Via = v.Key(), at.IP
	}
	var dests []steps.Victim
	var to []netip.Addr
	for _, entry := range n.towards {
		ds, err := entryVictims(ctx, env, p, entry)
		if err != nil {
			return err
		}
		for _, d := range ds {
			at, err := p.Attachment(ctx, d.Unit, netName)
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
	if err := env.PrepareFault(ctx, vs); err != nil {
		return err
	}
	desc := fmt.Sprintf("%s sent by %s on network %q", what, joinVictims(vs), netName)
	if len(dests) > 0 {
		desc += " towards " + joinVictims(dests)
	}
	flt := fault.Fault{Desc: desc, Target: "netem " + keys(vs), Undo: steps.NewUndo(opHealNetem, p, nil, vs...), Keep: n.keep}
	mem := scenarioNet(env)
	mem.open(opHealNetem, flt.Target, vs)
	err = env.Faults.Inject(ctx, flt, func(ctx context.Context) error {
		if err := armDeadMan(ctx, env, p, vs, n.deadline, n.keep); err != nil {
			return err
		}
		return steps.EachVictim(vs, func(i int, _ steps.Victim) error { return netfault.ApplyNetem(ctx, p, shapes[i]) })
	})
	if err != nil {
		return err
	}
	env.Logf("%s", desc)
	if err := env.FaultApplied(); err != nil || n.duration == 0 {
		return err
	}
	env.Report("%s for %s", what, n.duration)
	select {
	case <-ctx.Done():
		return fmt.Errorf("interrupted while the fault lasted (it is undone at the end of the run): %w", ctx.Err())
	case <-time.After(n.duration):
	}
	gone, err := netfault.HealNetem(ctx, p, victimKeys(vs)...)
	if err != nil {
		return fmt.Errorf("removing the %s after %s: %w", what, n.duration, err)
	}
	logGone(env, gone)
	env.Logf("removed after %s", n.duration)
	mem.close(flt.Target)
	return env.Faults.Resolved(opHealNetem, flt.Target)
}

// splitEntry reads a target written in a list: a role, a service, or
// service#N for one container of a scaled service.
func splitEntry(field, entry string) (string, int, error) {
	if err := steps.ValidateTarget(field, entry); err != nil {
		return "", 0, err
	}
	if steps.IsRole(entry) || dsl.HasRefs(entry) || !strings.Contains(entry, "#") {
		return entry, 0, nil
	}
	t, err := parseUnitKey(entry)
	if err != nil {
		return "", 0, steps.FieldErrorf(field, "%v", err)
	}
	return t.Service, t.Number, nil
}

// parseUnitKey reads "service#N" (N >= 1), a unit's Key.
func parseUnitKey(s string) (platform.Unit, error) {
	svc, num, _ := strings.Cut(s, "#")
	n, err := strconv.Atoi(num)
	if svc == "" || err != nil || n < 1 {
		return platform.Unit{}, fmt.Errorf("bad container number in target %q: want service#N with N >= 1", s)
	}
	return platform.Unit{Service: svc, Number: n}, nil
}

// entryVictims resolves a list entry to containers.
func entryVictims(ctx context.Context, env *steps.Env, p platform.Platform, entry string) ([]steps.Victim, error) {
	target, index, err := splitEntry("target", entry)
	if err != nil {
		return nil, err
	}
	return env.VictimsOn(ctx, p, target, index)
}

func joinVictims(vs []steps.Victim) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, ", ")
}

func victimKeys(vs []steps.Victim) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Key()
	}
	return out
}

// keys names a set of containers in a fault's target: sorted, comma-separated.
func keys(vs []steps.Victim) string {
	return strings.Join(slices.Sorted(slices.Values(victimKeys(vs))), ",")
}

// netMemory remembers the network faults of one scenario run: the
// attachments network.disconnect saved (for network.connect) and the open
// partitions and netem faults (for network.heal). It is kept in the
// scenario's Ports, which the runner makes per scenario.
type netMemory struct {
	mu        sync.Mutex
	endpoints map[string]platform.Endpoint // by container key + "/" + network
	faults    []netFault
}

// netFault is an open partition or netem fault.
type netFault struct {
	op, target string   // as given to the ledger
	keys       []string // the containers holding its rules or qdiscs
}

func scenarioNet(env *steps.Env) *netMemory {
	return steps.State(env.Ports, "network", func() *netMemory {
		return &netMemory{endpoints: map[string]platform.Endpoint{}}
	})
}

func (m *netMemory) saveEndpoint(key string, ep platform.Endpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.endpoints[key] = ep
}

func (m *netMemory) endpoint(key string) (platform.Endpoint, bool) {
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

func (m *netMemory) open(op, target string, vs []steps.Victim) {
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
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
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

// detachable resolves target to units of the scenario's platform, which must
// be a Detacher.
func detachable(ctx context.Context, env *steps.Env, target string, index int) (platform.Detacher, []steps.Victim, error) {
	p, vs, err := env.Victims(ctx, target, index)
	if err != nil {
		return nil, nil, err
	}
	d, err := detacher(p)
	return d, vs, err
}

// detacher returns p as a Detacher. The kinds that need one declare it, so
// a platform without it fails at load time; this is the run-time guard.
func detacher(p platform.Platform) (platform.Detacher, error) {
	d, ok := p.(platform.Detacher)
	if !ok {
		return nil, fmt.Errorf("platform %s cannot take a unit off a network", p.Ref().DriverName())
	}
	return d, nil
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step      = (*NetworkConnect)(nil)
	_ steps.Validator = (*NetworkConnect)(nil)
	_ steps.Step      = (*NetworkDelay)(nil)
	_ steps.Validator = (*NetworkDelay)(nil)
	_ steps.Timeouter = (*NetworkDelay)(nil)
	_ steps.Step      = (*NetworkDisconnect)(nil)
	_ steps.Validator = (*NetworkDisconnect)(nil)
	_ steps.Step      = (*NetworkHeal)(nil)
	_ steps.Validator = (*NetworkHeal)(nil)
	_ steps.Step      = (*NetworkLoss)(nil)
	_ steps.Validator = (*NetworkLoss)(nil)
	_ steps.Timeouter = (*NetworkLoss)(nil)
	_ steps.Step      = (*NetworkPartition)(nil)
	_ steps.Validator = (*NetworkPartition)(nil)
)

// armDeadMan leaves the heal of drill's rules on every unit, on a platform
// that can (hosts), due after deadline, else after the run's remaining time
// plus five minutes, else after 30 minutes. A kept fault is not armed: it
// is meant to outlive the run.
func armDeadMan(ctx context.Context, env *steps.Env, p platform.Platform, vs []steps.Victim, deadline time.Duration, keep bool) error {
	dm, ok := p.(platform.DeadMan)
	if !ok {
		return nil
	}
	if keep {
		env.Logf("kept: no dead-man undo on the hosts; drill cleanup heals them")
		return nil
	}
	if deadline == 0 {
		deadline = 30 * time.Minute
		if !env.RunDeadline.IsZero() {
			deadline = time.Until(env.RunDeadline) + 5*time.Minute
		}
	}
	err := steps.EachVictim(vs, func(_ int, v steps.Victim) error { return dm.Arm(ctx, v.Unit, deadline) })
	if err != nil {
		return fmt.Errorf("scheduling the dead-man undo (not injecting a fault that could outlive drill): %w", err)
	}
	env.Logf("dead-man undo: each host heals itself in %s unless drill undoes the fault first", deadline.Round(time.Second))
	return nil
}

// disarmDeadMan cancels the dead-man undo of the units named by keys, on a
// platform that has one.
func disarmDeadMan(ctx context.Context, p platform.Platform, keys []string) error {
	dm, ok := p.(platform.DeadMan)
	if !ok {
		return nil
	}
	var errs []error
	for _, k := range keys {
		u, err := parseUnitKey(k)
		if err != nil {
			u = platform.Unit{Service: k}
		}
		errs = append(errs, dm.Disarm(ctx, u))
	}
	return errors.Join(errs...)
}
