package clusterview

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/drill-dev/drill/internal/docker"
)

// Compose is a docker compose project seen from the host: which services
// publish Patroni's REST port and PostgreSQL's port, and the state of each
// service's container. It implements ContainerStater.
//
// Container states go through package docker. The published ports are read
// here, with the Engine API client directly, because package docker does not
// expose them yet: this read-only lookup (ports) is meant to move there as
// Project.PublishedPorts, and is the one exception to "only package docker
// talks to the engine".
type Compose struct {
	engine  *docker.Engine
	project *docker.Project
}

var _ ContainerStater = (*Compose)(nil)

// OpenCompose connects to the Docker Engine (from the environment, as
// package docker does) and finds the compose project name; an empty name
// means the only project with running containers.
func OpenCompose(ctx context.Context, name string, logger *slog.Logger) (*Compose, error) {
	engine, err := docker.Connect(ctx, docker.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("compose discovery: %w", err)
	}
	project, err := engine.Project(ctx, name)
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("compose discovery: %w", err)
	}
	return &Compose{engine: engine, project: project}, nil
}

// Name is the compose project's name.
func (c *Compose) Name() string { return c.project.Name() }

// Close releases the connection to the engine.
func (c *Compose) Close() error { return c.engine.Close() }

// ContainerState returns the state of service's container: "running",
// "paused", "restarting", "exited (137)", "created"...
func (c *Compose) ContainerState(ctx context.Context, service string) (string, error) {
	st, err := c.project.Inspect(ctx, docker.Target{Service: service})
	if err != nil {
		return "", err
	}
	return ContainerStatus(st), nil
}

// ContainerStatus describes a container's state in a word or two.
func ContainerStatus(st docker.State) string {
	switch {
	case st.Paused:
		return "paused"
	case st.Restarting:
		return "restarting"
	case st.Running:
		return "running"
	case st.Status == "exited" || st.Status == "dead":
		return fmt.Sprintf("%s (%d)", st.Status, st.ExitCode)
	}
	return cmp.Or(st.Status, "unknown")
}

// Published is a service of a compose project with the host addresses of
// its Patroni REST port and its PostgreSQL port ("" when not published).
type Published struct {
	Service string
	API     string // http://HOST:PORT
	PG      string // HOST:PORT
}

// Published lists the project's services that publish restPort or pgPort
// (container ports, e.g. 8008 and 5432) on the host, sorted by service. A
// port bound to every address (0.0.0.0, ::) is reached at 127.0.0.1. A
// stopped container's configured bindings count, so a member that is down
// is still listed.
func (c *Compose) Published(ctx context.Context, restPort, pgPort int) ([]Published, error) {
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("compose discovery: docker client from environment: %w", err)
	}
	defer api.Close()
	list, err := api.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", docker.LabelProject+"="+c.Name()))})
	if err != nil {
		return nil, fmt.Errorf("compose discovery: list the containers of %q: %w", c.Name(), err)
	}
	var out []Published
	for _, s := range list {
		service := s.Labels[docker.LabelService]
		if service == "" || strings.EqualFold(s.Labels[docker.LabelOneoff], "true") {
			continue
		}
		info, err := api.ContainerInspect(ctx, s.ID)
		if err != nil {
			return nil, fmt.Errorf("compose discovery: inspect the container of service %q: %w", service, err)
		}
		var ports []nat.PortMap
		if info.NetworkSettings != nil {
			ports = append(ports, info.NetworkSettings.Ports)
		}
		if info.HostConfig != nil {
			ports = append(ports, info.HostConfig.PortBindings)
		}
		p := Published{Service: service}
		if hp := hostPort(ports, restPort); hp != "" {
			p.API = "http://" + hp
		}
		p.PG = hostPort(ports, pgPort)
		if p.API != "" || p.PG != "" {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Published) int { return cmp.Compare(a.Service, b.Service) })
	if i := firstDup(out); i >= 0 {
		return nil, fmt.Errorf("compose discovery: service %q runs several containers: name its members with --member or a cluster file", out[i].Service)
	}
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

func firstDup(ps []Published) int {
	for i := 1; i < len(ps); i++ {
		if ps[i].Service == ps[i-1].Service {
			return i
		}
	}
	return -1
}
