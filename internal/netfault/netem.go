package netfault

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// drill's tc handles: the root qdisc it installs on a device, and the netem qdisc under its prio
// band when only some destinations are degraded. Heal deletes root qdiscs with RootHandle only.
const (
	RootHandle  = "d1:"
	netemHandle = "d2:"
)

// Netem delays and drops a member's outgoing packets on the interface that holds Via.
type Netem struct {
	Target string
	Via    netip.Addr    // the member's address on the network: selects the interface
	Delay  time.Duration // added to every packet
	Jitter time.Duration // delay varies by up to ± Jitter; needs Delay
	Loss   float64       // percent of packets dropped, 0 to 100
	// To limits the fault to packets towards these addresses (a prio qdisc and u32 filters);
	// empty means all outgoing packets.
	To []netip.Addr
}

// Validate checks Netem's values.
func (n Netem) Validate() error {
	switch {
	case n.Target == "":
		return errors.New("netem: no target")
	case !n.Via.IsValid():
		return fmt.Errorf("netem on %q: no address to find the interface by", n.Target)
	case n.Delay < 0 || n.Jitter < 0:
		return fmt.Errorf("netem on %q: negative delay or jitter", n.Target)
	case n.Jitter > 0 && n.Delay == 0:
		return fmt.Errorf("netem on %q: jitter needs a delay", n.Target)
	case n.Loss < 0 || n.Loss > 100:
		return fmt.Errorf("netem on %q: loss %g%% is not between 0 and 100", n.Target, n.Loss)
	case n.Delay == 0 && n.Loss == 0:
		return fmt.Errorf("netem on %q: neither delay nor loss", n.Target)
	}
	for _, a := range n.To {
		if !a.Is4() {
			return fmt.Errorf("netem on %q: destination %s: only IPv4 is supported", n.Target, a)
		}
	}
	return nil
}

// Batch returns the `tc -batch` lines that install n on dev, where drill's earlier qdisc has
// been deleted. Pure.
func (n Netem) Batch(dev string) []string {
	netem := "netem"
	if n.Delay > 0 {
		netem += " delay " + usec(n.Delay)
		if n.Jitter > 0 {
			netem += " " + usec(n.Jitter)
		}
	}
	if n.Loss > 0 {
		netem += " loss " + strconv.FormatFloat(n.Loss, 'f', -1, 64) + "%"
	}
	if len(n.To) == 0 {
		return []string{"qdisc add dev " + dev + " root handle " + RootHandle + " " + netem}
	}
	// The default priomap sends traffic to bands 1-3; band 4 gets only what the filters pick.
	lines := []string{
		"qdisc add dev " + dev + " root handle " + RootHandle + " prio bands 4",
		"qdisc add dev " + dev + " parent " + RootHandle + "4 handle " + netemHandle + " " + netem,
	}
	for _, a := range n.To {
		lines = append(lines, "filter add dev "+dev+" parent "+RootHandle+" protocol ip prio 1 u32 match ip dst "+a.String()+"/32 flowid "+RootHandle+"4")
	}
	return lines
}

func usec(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + "us" }

// DeviceFor finds the interface holding addr in the output of `ip -o addr show`. Pure.
func DeviceFor(ipAddr string, addr netip.Addr) (string, error) {
	for _, line := range strings.Split(ipAddr, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || (f[2] != "inet" && f[2] != "inet6") {
			continue
		}
		if pfx, err := netip.ParsePrefix(f[3]); err == nil && pfx.Addr() == addr {
			dev, _, _ := strings.Cut(f[1], "@")
			return dev, nil
		}
	}
	return "", fmt.Errorf("no interface holds %s", addr)
}

// drillRoots matches drill's root qdiscs in `tc qdisc show` output, capturing the device.
var drillRoots = regexp.MustCompile(`(?m)^qdisc \S+ ` + RootHandle + ` dev (\S+) root\b`)

// healBatch returns the `tc -batch` lines that delete drill's root qdiscs found in the output of
// `tc qdisc show`. Pure.
func healBatch(qdiscs string) []string {
	var lines []string
	for _, m := range drillRoots.FindAllStringSubmatch(qdiscs, -1) {
		lines = append(lines, "qdisc del dev "+m[1]+" root")
	}
	return lines
}

// ApplyNetem installs n on its member's interface, replacing drill's earlier netem there.
// Where the kernel has no netem or prio qdisc the error wraps ErrUnsupported.
func ApplyNetem(ctx context.Context, ex NetExecer, n Netem) error {
	if err := n.Validate(); err != nil {
		return err
	}
	addrs, err := run(ctx, ex, n.Target, nil, "ip", "-o", "addr", "show")
	if err != nil {
		return err
	}
	dev, err := DeviceFor(addrs, n.Via)
	if err != nil {
		return fmt.Errorf("netem on %q: %w", n.Target, err)
	}
	qdiscs, err := run(ctx, ex, n.Target, nil, "tc", "qdisc", "show", "dev", dev)
	if err != nil {
		return err
	}
	err = tcBatch(ctx, ex, n.Target, append(healBatch(qdiscs), n.Batch(dev)...))
	if err != nil && strings.Contains(err.Error(), "qdisc kind is unknown") {
		return fmt.Errorf("netem on %q: %w: the kernel has no netem or prio qdisc (CONFIG_NET_SCH_NETEM, CONFIG_NET_SCH_PRIO); delay and loss need them: %w", n.Target, ErrUnsupported, err)
	}
	return err
}

// HealNetem deletes drill's root qdiscs from every interface of each target. Idempotent;
// gone as for Heal.
func HealNetem(ctx context.Context, ex NetExecer, targets ...string) (gone []string, err error) {
	return healEach(targets, func(t string) error { return healNetem(ctx, ex, t) })
}

func healNetem(ctx context.Context, ex NetExecer, target string) error {
	qdiscs, err := run(ctx, ex, target, nil, "tc", "qdisc", "show")
	if err != nil {
		return err
	}
	return tcBatch(ctx, ex, target, healBatch(qdiscs))
}

// tcBatch runs lines through one `tc -batch -`; nothing when there are none.
func tcBatch(ctx context.Context, ex NetExecer, target string, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	_, err := run(ctx, ex, target, []byte(strings.Join(lines, "\n")+"\n"), "tc", "-batch", "-")
	return err
}
