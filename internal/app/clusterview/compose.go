package clusterview

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"

	"github.com/drill-dev/drill/internal/client/docker"
)

// Compose is a docker compose project seen from the host: which services
// publish Patroni's REST port and PostgreSQL's port, and the state of each
// service's container. It implements ContainerStater.
//
// Container states and published ports come through package docker.
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
	list, err := c.project.PublishedPorts(ctx, restPort, pgPort)
	if err != nil {
		return nil, fmt.Errorf("compose discovery: %w", err)
	}
	var out []Published
	for _, s := range list {
		p := Published{Service: s.Service, PG: s.Ports[pgPort]}
		if hp := s.Ports[restPort]; hp != "" {
			p.API = "http://" + hp
		}
		out = append(out, p)
	}
	if i := firstDup(out); i >= 0 {
		return nil, fmt.Errorf("compose discovery: service %q runs several containers: name its members with --member or a cluster file", out[i].Service)
	}
	return out, nil
}

func firstDup(ps []Published) int {
	for i := 1; i < len(ps); i++ {
		if ps[i].Service == ps[i-1].Service {
			return i
		}
	}
	return -1
}
