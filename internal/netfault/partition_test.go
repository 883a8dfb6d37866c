package netfault_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/netfault"
)

var (
	ipA  = netip.MustParseAddr("172.18.0.2")
	ipA2 = netip.MustParseAddr("172.18.0.5")
	ipB  = netip.MustParseAddr("172.18.0.3")
	gw   = netip.MustParseAddr("172.18.0.1")
	net0 = netip.MustParsePrefix("172.18.0.0/16")
)

func groups() [][]netfault.Member {
	return [][]netfault.Member{
		{{Target: "a", Addrs: []netip.Addr{ipA}}, {Target: "a2", Addrs: []netip.Addr{ipA2}}},
		{{Target: "b", Addrs: []netip.Addr{ipB}}},
	}
}

func TestPartitionRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		p    netfault.Partition
		want map[string]string // target: rules joined by newlines
	}{{
		name: "symmetric",
		p:    netfault.Partition{Groups: groups()},
		want: map[string]string{
			"a": `-A DRILL-IN -s 172.18.0.3/32 -j DROP
-A DRILL-OUT -d 172.18.0.3/32 -j DROP`,
			"b": `-A DRILL-IN -s 172.18.0.2/32 -j DROP
-A DRILL-OUT -d 172.18.0.2/32 -j DROP
-A DRILL-IN -s 172.18.0.5/32 -j DROP
-A DRILL-OUT -d 172.18.0.5/32 -j DROP`,
		},
	}, {
		name: "one-way, keeping the gateway",
		p:    netfault.Partition{Groups: groups(), OneWay: true, Keep: []netip.Addr{gw}},
		want: map[string]string{
			"a": `-A DRILL-IN -s 172.18.0.1/32 -j RETURN
-A DRILL-OUT -d 172.18.0.1/32 -j RETURN
-A DRILL-IN -s 172.18.0.3/32 -m conntrack --ctdir REPLY -j DROP
-A DRILL-OUT -d 172.18.0.3/32 -m conntrack --ctdir ORIGINAL -j DROP`,
			"b": `-A DRILL-IN -s 172.18.0.1/32 -j RETURN
-A DRILL-OUT -d 172.18.0.1/32 -j RETURN
-A DRILL-IN -s 172.18.0.2/32 -m conntrack --ctdir ORIGINAL -j DROP
-A DRILL-OUT -d 172.18.0.2/32 -m conntrack --ctdir REPLY -j DROP
-A DRILL-IN -s 172.18.0.5/32 -m conntrack --ctdir ORIGINAL -j DROP
-A DRILL-OUT -d 172.18.0.5/32 -m conntrack --ctdir REPLY -j DROP`,
		},
	}, {
		name: "one group cut from the whole network but the host",
		p:    netfault.Partition{Groups: groups()[:1], Network: netip.MustParsePrefix("172.18.3.4/16"), Keep: []netip.Addr{gw}},
		want: map[string]string{
			"a": `-A DRILL-IN -s 172.18.0.1/32 -j RETURN
-A DRILL-OUT -d 172.18.0.1/32 -j RETURN
-A DRILL-IN -s 172.18.0.2/32 -j RETURN
-A DRILL-OUT -d 172.18.0.2/32 -j RETURN
-A DRILL-IN -s 172.18.0.5/32 -j RETURN
-A DRILL-OUT -d 172.18.0.5/32 -j RETURN
-A DRILL-IN -s 172.18.0.0/16 -j DROP
-A DRILL-OUT -d 172.18.0.0/16 -j DROP`,
		},
	}, {
		name: "one-way with the network: only the first group is cut from the rest",
		p:    netfault.Partition{Groups: groups(), OneWay: true, Network: net0},
		want: map[string]string{
			"a": `-A DRILL-IN -s 172.18.0.2/32 -j RETURN
-A DRILL-OUT -d 172.18.0.2/32 -j RETURN
-A DRILL-IN -s 172.18.0.5/32 -j RETURN
-A DRILL-OUT -d 172.18.0.5/32 -j RETURN
-A DRILL-IN -s 172.18.0.3/32 -m conntrack --ctdir REPLY -j DROP
-A DRILL-OUT -d 172.18.0.3/32 -m conntrack --ctdir ORIGINAL -j DROP
-A DRILL-IN -s 172.18.0.0/16 -m conntrack --ctdir REPLY -j DROP
-A DRILL-OUT -d 172.18.0.0/16 -m conntrack --ctdir ORIGINAL -j DROP`,
			"b": `-A DRILL-IN -s 172.18.0.2/32 -m conntrack --ctdir ORIGINAL -j DROP
-A DRILL-OUT -d 172.18.0.2/32 -m conntrack --ctdir REPLY -j DROP
-A DRILL-IN -s 172.18.0.5/32 -m conntrack --ctdir ORIGINAL -j DROP
-A DRILL-OUT -d 172.18.0.5/32 -m conntrack --ctdir REPLY -j DROP`,
		},
	}} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.p.Rules()
			if err != nil {
				t.Fatal(err)
			}
			c.want["a2"] = c.want["a"] // same group, same rules
			if c.want["b"] == "" {
				delete(c.want, "b")
			}
			if len(got) != len(c.want) {
				t.Errorf("rules for %d targets, want %d", len(got), len(c.want))
			}
			for target, want := range c.want {
				if g := strings.Join(got[target], "\n"); g != want {
					t.Errorf("%s:\n%s\nwant\n%s", target, g, want)
				}
			}
		})
	}
}

func TestPartitionValidate(t *testing.T) {
	t.Parallel()
	a := netfault.Member{Target: "a", Addrs: []netip.Addr{ipA}}
	b := netfault.Member{Target: "b", Addrs: []netip.Addr{ipB}}
	c := netfault.Member{Target: "c", Addrs: []netip.Addr{gw}}
	for _, c := range []struct {
		p    netfault.Partition
		want string
	}{
		{netfault.Partition{}, "partition: no groups"},
		{netfault.Partition{Groups: [][]netfault.Member{{a}}}, "partition: one group cuts nothing: give a second group, or the network to cut it from"},
		{netfault.Partition{Groups: [][]netfault.Member{{a}, {b}, {c}}, OneWay: true}, "partition: one-way needs exactly two groups (who cannot send, who still can), got 3"},
		{netfault.Partition{Groups: [][]netfault.Member{{a}, {}}}, "partition: group 2 is empty"},
		{netfault.Partition{Groups: [][]netfault.Member{{a}, {b, a}}}, `partition: "a" is in more than one group`},
		{netfault.Partition{Groups: [][]netfault.Member{{a}, {{Target: "b"}}}}, `partition: "b" has no address on the network`},
		{netfault.Partition{Groups: [][]netfault.Member{{a}, {{Target: "b", Addrs: []netip.Addr{netip.MustParseAddr("fd00::2")}}}}}, `partition: "b": address fd00::2: only IPv4 is supported`},
		{netfault.Partition{Groups: [][]netfault.Member{{a}}, Network: netip.MustParsePrefix("fd00::/64")}, "partition: network fd00::/64: only IPv4 is supported"},
		{netfault.Partition{Groups: [][]netfault.Member{{{Addrs: []netip.Addr{ipA}}}, {b}}}, "partition: group 1 has a member without a target"},
	} {
		err := c.p.Validate()
		if err == nil || err.Error() != c.want {
			t.Errorf("Validate() = %v, want %q", err, c.want)
		}
		if _, err := c.p.Rules(); err == nil {
			t.Errorf("Rules() of an invalid partition succeeded: %q", c.want)
		}
	}
}

const (
	savedClean = `# Generated by iptables-save v1.8.9 (nf_tables) on Fri Nov 27 14:42:52 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 22 -j ACCEPT
COMMIT
`
	savedDrill = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DRILL-IN - [0:0]
:DRILL-OUT - [0:0]
-A INPUT -j DRILL-IN
-A INPUT -p tcp --dport 22 -j ACCEPT
-A OUTPUT -j DRILL-OUT
-A OUTPUT -o eth0 -j DRILL-OUT
-A DRILL-IN -s 172.18.0.3/32 -j DROP
-A DRILL-OUT -d 172.18.0.3/32 -j DROP
COMMIT
`
)

func TestRestoreScript(t *testing.T) {
	t.Parallel()
	rules := []string{"-A DRILL-IN -s 172.18.0.9/32 -j DROP", "-A DRILL-OUT -d 172.18.0.9/32 -j DROP"}
	for _, c := range []struct {
		name, saved string
		rules       []string
		want        string
	}{
		{"apply to a clean namespace", savedClean, rules, `*filter
:DRILL-IN - [0:0]
:DRILL-OUT - [0:0]
-A DRILL-IN -s 172.18.0.9/32 -j DROP
-A DRILL-OUT -d 172.18.0.9/32 -j DROP
-I INPUT 1 -j DRILL-IN
-I OUTPUT 1 -j DRILL-OUT
COMMIT
`},
		{"apply over an earlier partition: old jumps go, chains are flushed", savedDrill, rules, `*filter
-D INPUT -j DRILL-IN
-D OUTPUT -j DRILL-OUT
-D OUTPUT -o eth0 -j DRILL-OUT
:DRILL-IN - [0:0]
:DRILL-OUT - [0:0]
-A DRILL-IN -s 172.18.0.9/32 -j DROP
-A DRILL-OUT -d 172.18.0.9/32 -j DROP
-I INPUT 1 -j DRILL-IN
-I OUTPUT 1 -j DRILL-OUT
COMMIT
`},
		{"heal", savedDrill, nil, `*filter
-D INPUT -j DRILL-IN
-D OUTPUT -j DRILL-OUT
-D OUTPUT -o eth0 -j DRILL-OUT
:DRILL-IN - [0:0]
:DRILL-OUT - [0:0]
-X DRILL-IN
-X DRILL-OUT
COMMIT
`},
		{"heal a half-removed partition: chain without jumps", ":DRILL-OUT - [0:0]\n", nil, "*filter\n:DRILL-OUT - [0:0]\n-X DRILL-OUT\nCOMMIT\n"},
		{"heal with nothing to do", savedClean, nil, ""},
		{"heal an empty table", "", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := netfault.RestoreScript(c.saved, c.rules); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}
