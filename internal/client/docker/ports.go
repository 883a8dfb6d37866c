package docker

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-connections/nat"
)

// Published is where one container of a service publishes container ports
// on the host.
type Published struct {
	Service string
	Number  int
	// Ports maps a container TCP port to HOST:PORT on the host. A port bound
	// to every address (0.0.0.0, ::) is reached at 127.0.0.1.
	Ports map[int]string
}

// PublishedPorts lists, for every container of the project (in any state:
// a stopped container's configured bindings count), where the given
// container ports are published on the host, sorted by service and
// container number. Containers that publish none of them are left out.
func (p *Project) PublishedPorts(ctx context.Context, ports ...int) ([]Published, error) {
	cs, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	var out []Published
	for _, c := range cs {
		service := c.Labels[LabelService]
		if service == "" {
			continue
		}
		info, err := p.e.api.ContainerInspect(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("inspect the container of service %q in compose project %q: %w", service, p.name, err)
		}
		var maps []nat.PortMap
		if info.NetworkSettings != nil {
			maps = append(maps, info.NetworkSettings.Ports)
		}
		if info.HostConfig != nil {
			maps = append(maps, info.HostConfig.PortBindings)
		}
		number, _ := strconv.Atoi(c.Labels[LabelNumber])
		pub := Published{Service: service, Number: number, Ports: map[int]string{}}
		for _, port := range ports {
			if hp := hostPort(maps, port); hp != "" {
				pub.Ports[port] = hp
			}
		}
		if len(pub.Ports) > 0 {
			out = append(out, pub)
		}
	}
	slices.SortFunc(out, func(a, b Published) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Number, b.Number))
	})
	return out, nil
}

// hostPort returns HOST:PORT where the first map with a binding for the
// container's TCP port publishes it, preferring IPv4.
func hostPort(maps []nat.PortMap, port int) string {
	key := nat.Port(strconv.Itoa(port) + "/tcp")
	for _, m := range maps {
		bindings := slices.Clone(m[key])
		isV6 := func(b nat.PortBinding) int {
			if strings.Contains(b.HostIP, ":") {
				return 1
			}
			return 0
		}
		slices.SortStableFunc(bindings, func(a, b nat.PortBinding) int { return cmp.Compare(isV6(a), isV6(b)) })
		for _, b := range bindings {
			if b.HostPort == "" || b.HostPort == "0" {
				continue
			}
			host := b.HostIP
			switch host {
			case "", "0.0.0.0", "::":
				host = "127.0.0.1"
			}
			return net.JoinHostPort(host, b.HostPort)
		}
	}
	return ""
}
