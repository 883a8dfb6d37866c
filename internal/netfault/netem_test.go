package netfault_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/netfault"
)

func TestNetemBatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		n    netfault.Netem
		want string
	}{
		{"delay", netfault.Netem{Delay: 200 * time.Millisecond}, "qdisc add dev eth1 root handle d1: netem delay 200000us"},
		{"delay, jitter and loss", netfault.Netem{Delay: 100 * time.Millisecond, Jitter: 1500 * time.Microsecond, Loss: 12.5},
			"qdisc add dev eth1 root handle d1: netem delay 100000us 1500us loss 12.5%"},
		{"loss towards two addresses", netfault.Netem{Loss: 30, To: []netip.Addr{ipB, gw}}, `qdisc add dev eth1 root handle d1: prio bands 4
qdisc add dev eth1 parent d1:4 handle d2: netem loss 30%
filter add dev eth1 parent d1: protocol ip prio 1 u32 match ip dst 172.18.0.3/32 flowid d1:4
filter add dev eth1 parent d1: protocol ip prio 1 u32 match ip dst 172.18.0.1/32 flowid d1:4`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := strings.Join(c.n.Batch("eth1"), "\n"); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

func TestNetemValidate(t *testing.T) {
	t.Parallel()
	ok := netfault.Netem{Target: "a", Via: ipA, Delay: time.Millisecond}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*netfault.Netem)
		want string
	}{
		{func(n *netfault.Netem) { n.Target = "" }, "netem: no target"},
		{func(n *netfault.Netem) { n.Via = netip.Addr{} }, `netem on "a": no address to find the interface by`},
		{func(n *netfault.Netem) { n.Delay = -time.Second }, `netem on "a": negative delay or jitter`},
		{func(n *netfault.Netem) { n.Delay, n.Jitter, n.Loss = 0, time.Millisecond, 1 }, `netem on "a": jitter needs a delay`},
		{func(n *netfault.Netem) { n.Loss = 101 }, `netem on "a": loss 101% is not between 0 and 100`},
		{func(n *netfault.Netem) { n.Delay = 0 }, `netem on "a": neither delay nor loss`},
		{func(n *netfault.Netem) { n.To = []netip.Addr{netip.MustParseAddr("fd00::1")} }, `netem on "a": destination fd00::1: only IPv4 is supported`},
	} {
		n := ok
		c.edit(&n)
		if err := n.Validate(); err == nil || err.Error() != c.want {
			t.Errorf("Validate() = %v, want %q", err, c.want)
		}
	}
}

func TestDeviceFor(t *testing.T) {
	t.Parallel()
	const out = `1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
41: eth0    inet 172.18.0.2/16 brd 172.18.255.255 scope global eth0\       valid_lft forever preferred_lft forever
45: eth1@if46    inet 172.19.0.3/16 brd 172.19.255.255 scope global eth1\       valid_lft forever preferred_lft forever
`
	for addr, want := range map[string]string{"172.18.0.2": "eth0", "172.19.0.3": "eth1", "127.0.0.1": "lo"} {
		if got, err := netfault.DeviceFor(out, netip.MustParseAddr(addr)); err != nil || got != want {
			t.Errorf("DeviceFor(%s) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := netfault.DeviceFor(out, ipB); err == nil || err.Error() != "no interface holds 172.18.0.3" {
		t.Errorf("DeviceFor of an absent address: %v", err)
	}
}
