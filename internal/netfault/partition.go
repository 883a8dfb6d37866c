package netfault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// drill's iptables chains in the filter table, jumped to first thing from INPUT and OUTPUT.
// Two chains, because a rule that returns early for an address must look at the source of
// incoming packets and the destination of outgoing ones.
const (
	ChainIn  = "DRILL-IN"
	ChainOut = "DRILL-OUT"
)

// Member is one container in a partition.
type Member struct {
	Target string       // passed to NetExecer
	Addrs  []netip.Addr // its IPv4 addresses on the network, by which the others reach it
}

// Partition cuts groups of members off from each other. Members of one group still reach each
// other. Packets are dropped by address, whatever their connection state, so connections
// that were open before are cut too. Addresses that no group lists are not affected, unless
// Network is set.
type Partition struct {
	Groups [][]Member

	// OneWay needs exactly two groups: the members of Groups[0] can no longer open connections
	// (or keep the ones they had opened) to Groups[1], while connections that Groups[1] opens
	// to Groups[0] still work, replies included. Decided by conntrack's direction (ctdir).
	OneWay bool

	// Network, when valid (the network's subnet), also cuts the members of Groups from every
	// other address in it: containers listed nowhere, and the host's gateway address unless it
	// is in Keep. With OneWay, only Groups[0] is cut from the rest of the network.
	Network netip.Prefix

	// Keep lists addresses that stay reachable from every member, both ways: typically the
	// network's gateway, through which drill observes from the host.
	Keep []netip.Addr
}

// Validate checks the partition's shape: at least two groups (one with Network), no empty
// group, no target twice, IPv4 addresses only, exactly two groups when OneWay.
func (p Partition) Validate() error {
	switch {
	case len(p.Groups) == 0:
		return errors.New("partition: no groups")
	case len(p.Groups) == 1 && !p.Network.IsValid():
		return errors.New("partition: one group cuts nothing: give a second group, or the network to cut it from")
	case p.OneWay && len(p.Groups) != 2:
		return fmt.Errorf("partition: one-way needs exactly two groups (who cannot send, who still can), got %d", len(p.Groups))
	case p.Network.IsValid() && !p.Network.Addr().Is4():
		return fmt.Errorf("partition: network %s: only IPv4 is supported", p.Network)
	}
	seen := map[string]bool{}
	for i, g := range p.Groups {
		if len(g) == 0 {
			return fmt.Errorf("partition: group %d is empty", i+1)
		}
		for _, m := range g {
			if m.Target == "" {
				return fmt.Errorf("partition: group %d has a member without a target", i+1)
			}
			if seen[m.Target] {
				return fmt.Errorf("partition: %q is in more than one group", m.Target)
			}
			seen[m.Target] = true
			if len(m.Addrs) == 0 {
				return fmt.Errorf("partition: %q has no address on the network", m.Target)
			}
			if i := slices.IndexFunc(m.Addrs, func(a netip.Addr) bool { return !a.Is4() }); i >= 0 {
				return fmt.Errorf("partition: %q: address %s: only IPv4 is supported", m.Target, m.Addrs[i])
			}
		}
	}
	if i := slices.IndexFunc(p.Keep, func(a netip.Addr) bool { return !a.Is4() }); i >= 0 {
		return fmt.Errorf("partition: keep %s: only IPv4 is supported", p.Keep[i])
	}
	return nil
}

// Rules returns, for each member's target, the rules of its two chains in iptables-save syntax
// ("-A DRILL-IN -s 172.18.0.3/32 -j DROP"), in order. Pure.
func (p Partition) Rules() (map[string][]string, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for gi, g := range p.Groups {
		var own, others []netip.Addr
		for gj, h := range p.Groups {
			for _, m := range h {
				if gj == gi {
					own = append(own, m.Addrs...)
				} else {
					others = append(others, m.Addrs...)
				}
			}
		}
		var rules []string
		add := func(inRule, outRule string) {
			rules = append(rules, "-A "+ChainIn+" "+inRule, "-A "+ChainOut+" "+outRule)
		}
		for _, k := range p.Keep {
			add("-s "+host(k)+" -j RETURN", "-d "+host(k)+" -j RETURN")
		}
		// One way, by conntrack direction: ORIGINAL matches packets flowing from a connection's
		// opener, REPLY those flowing back to it. Groups[0] loses what it opens towards the
		// others, both ways; Groups[1] refuses what Groups[0] opens, and keeps what it opens.
		var sends, hears string // match on what this member sends, and on what it receives
		switch {
		case p.OneWay && gi == 0:
			sends, hears = " -m conntrack --ctdir ORIGINAL", " -m conntrack --ctdir REPLY"
		case p.OneWay:
			sends, hears = " -m conntrack --ctdir REPLY", " -m conntrack --ctdir ORIGINAL"
		}
		wholeNet := p.Network.IsValid() && (!p.OneWay || gi == 0)
		if wholeNet {
			for _, a := range own {
				add("-s "+host(a)+" -j RETURN", "-d "+host(a)+" -j RETURN")
			}
		}
		for _, a := range others {
			add("-s "+host(a)+hears+" -j DROP", "-d "+host(a)+sends+" -j DROP")
		}
		if wholeNet {
			add("-s "+p.Network.Masked().String()+hears+" -j DROP", "-d "+p.Network.Masked().String()+sends+" -j DROP")
		}
		for _, m := range g {
			out[m.Target] = rules
		}
	}
	return out, nil
}

func host(a netip.Addr) string { return a.String() + "/32" }

// RestoreScript returns the input for `iptables-restore --noflush` that takes a namespace whose
// `iptables-save -t filter` printed saved to one where drill's chains hold exactly rules and are
// jumped to once, first, from INPUT and OUTPUT; with no rules, to one without drill's chains or
// jumps. It returns "" when there is nothing to do. Other rules are left alone. Pure.
func RestoreScript(saved string, rules []string) string {
	var jumps []string
	exists := map[string]bool{}
	for _, line := range strings.Split(saved, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 1 && (f[0] == ":"+ChainIn || f[0] == ":"+ChainOut):
			exists[f[0][1:]] = true
		case len(f) >= 4 && f[0] == "-A" && (f[1] == "INPUT" || f[1] == "OUTPUT") &&
			f[len(f)-2] == "-j" && (f[len(f)-1] == ChainIn || f[len(f)-1] == ChainOut):
			jumps = append(jumps, "-D"+strings.TrimPrefix(strings.TrimSpace(line), "-A"))
		}
	}
	if len(rules) == 0 && len(jumps) == 0 && len(exists) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("*filter\n")
	for _, j := range jumps {
		b.WriteString(j + "\n")
	}
	// A chain declaration creates the chain, or flushes it when it exists.
	for _, c := range []string{ChainIn, ChainOut} {
		if len(rules) > 0 || exists[c] {
			b.WriteString(":" + c + " - [0:0]\n")
		}
	}
	if len(rules) == 0 {
		for _, c := range []string{ChainIn, ChainOut} {
			if exists[c] {
				b.WriteString("-X " + c + "\n")
			}
		}
	} else {
		for _, r := range rules {
			b.WriteString(r + "\n")
		}
		b.WriteString("-I INPUT 1 -j " + ChainIn + "\n-I OUTPUT 1 -j " + ChainOut + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// ApplyPartition installs p's rules in every member, all at once, replacing rules of an
// earlier partition there. On error some members may hold rules: Heal them.
func ApplyPartition(ctx context.Context, ex NetExecer, p Partition) error {
	rules, err := p.Rules()
	if err != nil {
		return err
	}
	return each(slices.Sorted(maps.Keys(rules)), func(t string) error {
		return restore(ctx, ex, t, rules[t])
	})
}

// HealPartition removes drill's chains and the jumps to them from each target. Idempotent;
// gone as for Heal.
func HealPartition(ctx context.Context, ex NetExecer, targets ...string) (gone []string, err error) {
	return healEach(targets, func(t string) error { return healPartition(ctx, ex, t) })
}

func healPartition(ctx context.Context, ex NetExecer, target string) error {
	return restore(ctx, ex, target, nil)
}

// restore reads target's filter table and brings drill's chains to rules in one transaction.
func restore(ctx context.Context, ex NetExecer, target string, rules []string) error {
	saved, err := run(ctx, ex, target, nil, "iptables-save", "-t", "filter")
	if err != nil {
		return err
	}
	script := RestoreScript(saved, rules)
	if script == "" {
		return nil
	}
	_, err = run(ctx, ex, target, []byte(script), "iptables-restore", "--noflush")
	return err
}
