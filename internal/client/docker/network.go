package docker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// NetworkInfo describes one network of the project.
type NetworkInfo struct {
	Name       string // compose name, e.g. "cluster"
	EngineName string // the engine's name, e.g. "drill-testbed_cluster"
	ID         string
	Subnets    []netip.Prefix
	Gateways   []netip.Addr // the host's addresses on the network
}

// Endpoint is what Connect needs to restore a container's attachment to a network after
// Disconnect. It is plain data, JSON-ready, meant for the undo ledger: take it before
// disconnecting.
type Endpoint struct {
	Network string   `json:"network"`           // compose name
	Aliases []string `json:"aliases,omitempty"` // DNS names on the network, the service name among them
	IPv4    string   `json:"ipv4,omitempty"`    // static address from the compose file, if any
	IPv6    string   `json:"ipv6,omitempty"`
}

// projectNetworks lists the networks labelled as the project's.
func (p *Project) projectNetworks(ctx context.Context) ([]network.Summary, error) {
	ns, err := p.e.api.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+p.name))})
	if err != nil {
		return nil, fmt.Errorf("list networks of compose project %q: %w", p.name, p.e.wrap(err))
	}
	return ns, nil
}

// Networks returns the compose names of the project's networks, sorted.
func (p *Project) Networks(ctx context.Context) ([]string, error) {
	ns, err := p.projectNetworks(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range ns {
		if compose := n.Labels[LabelNetwork]; compose != "" {
			out = append(out, compose)
		}
	}
	slices.Sort(out)
	return out, nil
}

// networkNames maps the engine names of the project's networks to their compose names.
func (p *Project) networkNames(ctx context.Context) (map[string]string, error) {
	ns, err := p.projectNetworks(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(ns))
	for _, n := range ns {
		if compose := n.Labels[LabelNetwork]; compose != "" {
			m[n.Name] = compose
		}
	}
	return m, nil
}

// Network resolves a compose network name ("cluster") to the engine's network: first by the
// com.docker.compose.network label among the project's networks, then by the name
// "<project>_<name>". The engine's own name is accepted too.
func (p *Project) Network(ctx context.Context, name string) (NetworkInfo, error) {
	ns, err := p.projectNetworks(ctx)
	if err != nil {
		return NetworkInfo{}, err
	}
	var known []string
	for _, n := range ns {
		compose := n.Labels[LabelNetwork]
		if compose == name || n.Name == name {
			return p.networkInfo(ctx, compose, n.ID)
		}
		if compose != "" {
			known = append(known, compose)
		}
	}
	info, err := p.networkInfo(ctx, name, p.name+"_"+name)
	if cerrdefs.IsNotFound(err) {
		slices.Sort(known)
		return NetworkInfo{}, &NotFoundError{Kind: "network", Name: name, Project: p.name, Known: known}
	}
	return info, err
}

func (p *Project) networkInfo(ctx context.Context, compose, id string) (NetworkInfo, error) {
	n, err := p.e.api.NetworkInspect(ctx, id, network.InspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return NetworkInfo{}, err
		}
		return NetworkInfo{}, fmt.Errorf("inspect network %q of compose project %q: %w", compose, p.name, p.e.wrap(err))
	}
	info := NetworkInfo{Name: compose, EngineName: n.Name, ID: n.ID}
	if info.Name == "" {
		info.Name = n.Name
	}
	for _, c := range n.IPAM.Config {
		if pfx, err := netip.ParsePrefix(c.Subnet); err == nil {
			info.Subnets = append(info.Subnets, pfx)
		}
		if gw, err := netip.ParseAddr(c.Gateway); err == nil {
			info.Gateways = append(info.Gateways, gw)
		}
	}
	return info, nil
}

// Endpoint returns t's current attachment to the compose network, for Connect to restore later.
// It fails when t is not attached.
func (p *Project) Endpoint(ctx context.Context, t Target, networkName string) (Endpoint, error) {
	r, err := p.resolve(ctx, t)
	if err != nil {
		return Endpoint{}, err
	}
	net, err := p.Network(ctx, networkName)
	if err != nil {
		return Endpoint{}, err
	}
	ep, err := p.endpoint(ctx, r, net)
	if err != nil {
		return Endpoint{}, err
	}
	if ep == nil {
		return Endpoint{}, fmt.Errorf("%s is not attached to network %q of compose project %q", r, networkName, p.name)
	}
	out := Endpoint{Network: net.Name}
	for _, a := range ep.Aliases {
		// The engine adds the container's short ID itself on every connect.
		if len(a) < 12 || !strings.HasPrefix(r.id, a) {
			out.Aliases = append(out.Aliases, a)
		}
	}
	if ep.IPAMConfig != nil {
		out.IPv4, out.IPv6 = ep.IPAMConfig.IPv4Address, ep.IPAMConfig.IPv6Address
	}
	return out, nil
}

// endpoint returns r's endpoint on net, nil when it is not attached.
func (p *Project) endpoint(ctx context.Context, r ref, net NetworkInfo) (*network.EndpointSettings, error) {
	c, err := p.e.api.ContainerInspect(ctx, r.id)
	if err != nil {
		return nil, p.fail("inspect", r, err)
	}
	if c.NetworkSettings == nil {
		return nil, nil
	}
	return c.NetworkSettings.Networks[net.EngineName], nil
}

// Disconnect detaches t's container from the compose network: its address and DNS names there
// are gone until Connect. Take Endpoint first to be able to restore it. Disconnecting a
// container that is not attached is an error.
func (p *Project) Disconnect(ctx context.Context, t Target, networkName string) error {
	net, err := p.Network(ctx, networkName)
	if err != nil {
		return err
	}
	return p.do(ctx, fmt.Sprintf("disconnect from network %q", net.Name), t, func(id string) error {
		return p.e.api.NetworkDisconnect(ctx, net.ID, id, false)
	})
}

// Connect attaches t's container to ep.Network again with ep's aliases (so the service name
// resolves again) and static addresses. Undo-safe: a container already attached is left alone
// and Connect succeeds.
func (p *Project) Connect(ctx context.Context, t Target, ep Endpoint) error {
	r, err := p.resolve(ctx, t)
	if err != nil {
		return err
	}
	net, err := p.Network(ctx, ep.Network)
	if err != nil {
		return err
	}
	attached := func() bool {
		cur, err := p.endpoint(ctx, r, net)
		return err == nil && cur != nil
	}
	if attached() {
		return nil
	}
	settings := &network.EndpointSettings{Aliases: ep.Aliases}
	if ep.IPv4 != "" || ep.IPv6 != "" {
		settings.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ep.IPv4, IPv6Address: ep.IPv6}
	}
	p.e.log.InfoContext(ctx, "docker connect", "project", p.name, "target", r.t.String(), "network", net.EngineName, "aliases", ep.Aliases)
	if err := p.e.api.NetworkConnect(ctx, net.ID, r.id, settings); err != nil && !attached() {
		return p.fail(fmt.Sprintf("connect to network %q", net.Name), r, err)
	}
	return nil
}
