// Package compose is the platform of clusters run by docker compose (v1 or
// v2) on a Docker engine: a unit is a container of a compose service, found
// by compose's labels, and every operation goes through internal/client/docker.
package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/platform/remote"
	"github.com/drill-dev/drill/internal/signal"
)

func init() {
	platform.Register(platform.Driver{
		Name: platform.Compose,
		Doc:  "containers of a docker compose project on the Docker engine that DOCKER_HOST names (the local one by default)",
		Caps: []platform.Capability{platform.Lifecycle, platform.Freeze, platform.Exec, platform.Logs, platform.NetRules, platform.Detach},
		Open: func(ctx context.Context, c *cluster.Cluster, log *slog.Logger) (platform.Platform, error) {
			name := c.ComposeProject
			if name == "" {
				name = os.Getenv("COMPOSE_PROJECT_NAME")
			}
			ref := platform.Ref{Driver: platform.Compose, Project: name, HelperImage: c.HelperImage, DockerHost: c.DockerHost}
			if strings.HasPrefix(c.DockerHost, "ssh://") {
				public := c.SSH
				public.Passphrase, public.Password = "", ""
				spec, err := json.Marshal(public)
				if err != nil {
					return nil, err
				}
				ref.Spec = string(spec)
			}
			return open(ctx, ref, c.SSH, c.Network, log)
		},
		Reopen: func(ctx context.Context, ref platform.Ref, log *slog.Logger) (platform.Platform, error) {
			if ref.Project == "" {
				return nil, fmt.Errorf("the ledger entry names no compose project")
			}
			var settings cluster.SSH
			if ref.Spec != "" {
				if err := json.Unmarshal([]byte(ref.Spec), &settings); err != nil {
					return nil, fmt.Errorf("compose: bad ssh settings in the ledger: %w", err)
				}
			}
			return open(ctx, ref, settings, "", log)
		},
	})
}

// Platform is a compose project on a Docker engine.
type Platform struct {
	ref     platform.Ref
	pool    *remote.Pool // the SSH connection of an ssh:// docker_host, else nil
	engine  *docker.Engine
	project *docker.Project
	network string // the cluster block's network: the default of Attachment
}

var (
	_ platform.Platform = (*Platform)(nil)
	_ platform.Detacher = (*Platform)(nil)
)

// open connects to the engine and finds the project ("" : the only one
// running).
func open(ctx context.Context, ref platform.Ref, settings cluster.SSH, network string, log *slog.Logger) (*Platform, error) {
	opts := docker.Options{HelperImage: ref.HelperImage, Logger: log}
	var pool *remote.Pool
	switch host := ref.DockerHost; {
	case strings.HasPrefix(host, "ssh://"):
		u, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("docker_host %q: %w", host, err)
		}
		socket := u.Path
		if socket == "" || socket == "/" {
			socket = "/var/run/docker.sock"
		}
		pool = remote.NewPool(settings, log)
		user, addr := remote.SplitTarget(u.User.Username()+"@"+u.Host, settings.Port)
		conn, err := pool.Get(ctx, addr, user)
		if err != nil {
			return nil, fmt.Errorf("docker_host %s: %w", host, err)
		}
		opts.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) { return conn.DialUnix(ctx, socket) }
	case host != "":
		opts.Host = host
	}
	e, err := docker.Connect(ctx, opts)
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, err
	}
	p, err := e.Project(ctx, ref.Project)
	if err != nil {
		e.Close()
		if pool != nil {
			pool.Close()
		}
		return nil, err
	}
	ref.Project = p.Name()
	return &Platform{ref: ref, pool: pool, engine: e, project: p, network: network}, nil
}

// Ref names the project and helper image.
func (p *Platform) Ref() platform.Ref { return p.ref }

// Close closes the engine connection (and its SSH connection).
func (p *Platform) Close() error {
	err := p.engine.Close()
	if p.pool != nil {
		p.pool.Close()
	}
	return err
}

// Services lists the project's services.
func (p *Platform) Services(ctx context.Context) ([]string, error) { return p.project.Services(ctx) }

// Units lists the containers of service.
func (p *Platform) Units(ctx context.Context, service string) ([]platform.Unit, error) {
	cs, err := p.project.Containers(ctx, service)
	if err != nil {
		return nil, gone(err)
	}
	out := make([]platform.Unit, len(cs))
	for i, c := range cs {
		out[i] = platform.Unit{Service: c.Target.Service, Number: c.Target.Number, Name: c.Name, Noun: "container"}
	}
	return out, nil
}

func target(u platform.Unit) docker.Target {
	return docker.Target{Service: u.Service, Number: u.Number}
}

// Stop is docker stop, dated by the engine's event for the stop signal.
func (p *Platform) Stop(ctx context.Context, u platform.Unit, grace time.Duration) (platform.Effect, error) {
	return effect(p.project.Stop(ctx, target(u), grace))
}

// Kill is docker kill, dated by the engine's kill event.
func (p *Platform) Kill(ctx context.Context, u platform.Unit, sig signal.Signal) (platform.Effect, error) {
	return effect(p.project.Kill(ctx, target(u), sig))
}

// Pause is docker pause, dated by the engine's pause event.
func (p *Platform) Pause(ctx context.Context, u platform.Unit) (platform.Effect, error) {
	return effect(p.project.Pause(ctx, target(u)))
}

// effect says where the engine's Effect comes from.
func effect(e docker.Effect, err error) (platform.Effect, error) {
	if e.Event == "" {
		return platform.Effect{At: e.At, Source: fmt.Sprintf("the request (no engine event within %s)", docker.EventWait)}, gone(err)
	}
	return platform.Effect{At: e.At, Source: "the engine's " + e.Event + " event"}, gone(err)
}

// Unpause is docker unpause; a container that is not paused is left alone.
func (p *Platform) Unpause(ctx context.Context, u platform.Unit) error {
	return gone(p.project.Unpause(ctx, target(u)))
}

// Start is docker start; a running container is left alone.
func (p *Platform) Start(ctx context.Context, u platform.Unit) error {
	return gone(p.project.Start(ctx, target(u)))
}

// Restart is docker restart.
func (p *Platform) Restart(ctx context.Context, u platform.Unit, grace time.Duration) error {
	return gone(p.project.Restart(ctx, target(u), grace))
}

// Exec is docker exec.
func (p *Platform) Exec(ctx context.Context, u platform.Unit, argv []string, stdin []byte) (platform.ExecResult, error) {
	res, err := p.project.Exec(ctx, target(u), argv, stdin)
	return platform.ExecResult{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

// ExecAdmin is docker exec as user 0.
func (p *Platform) ExecAdmin(ctx context.Context, u platform.Unit, argv []string, stdin []byte) (platform.ExecResult, error) {
	res, err := p.project.ExecAsRoot(ctx, target(u), argv, stdin)
	return platform.ExecResult{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

// Logs is docker logs --timestamps.
func (p *Platform) Logs(ctx context.Context, u platform.Unit, since time.Time) ([]byte, error) {
	return p.project.Logs(ctx, target(u), since)
}

// NetExec runs argv in the container's network namespace: through exec when
// its image has the tool, else through a helper container. A container that
// is not running is an error matching netfault.ErrNoNamespace.
func (p *Platform) NetExec(ctx context.Context, key string, argv []string, stdin []byte) ([]byte, error) {
	out, err := p.project.NetExec(ctx, key, argv, stdin)
	if errors.Is(err, docker.ErrNoNamespace) {
		return out, tagged{err, netfault.ErrNoNamespace}
	}
	return out, err
}

// Attachment finds u's address on network; "" means the cluster block's
// network, else the container's only network.
func (p *Platform) Attachment(ctx context.Context, u platform.Unit, network string) (platform.Attachment, error) {
	st, err := p.project.Inspect(ctx, target(u))
	if err != nil {
		return platform.Attachment{}, err
	}
	if network == "" {
		network = p.network
	}
	var names []string
	for _, n := range st.Networks {
		if n.Network == network || n.EngineName == network {
			return platform.Attachment{Network: n.Network, IP: n.IP}, nil
		}
		names = append(names, n.Network)
	}
	switch {
	case network == "" && len(names) == 1:
		n := st.Networks[0]
		return platform.Attachment{Network: n.Network, IP: n.IP}, nil
	case network == "" && len(names) == 0:
		return platform.Attachment{}, fmt.Errorf("container %s is on no network", st.Name)
	case network == "":
		return platform.Attachment{}, fmt.Errorf("container %s is on several networks (%s): say which with network: or cluster.network", st.Name, strings.Join(names, ", "))
	}
	if _, err := p.project.Network(ctx, network); err != nil {
		return platform.Attachment{}, err
	}
	return platform.Attachment{}, fmt.Errorf("container %s is not on network %q (its networks: %s)", st.Name, network, strings.Join(names, ", "))
}

// Network describes a network of the project, by its compose or engine name.
func (p *Platform) Network(ctx context.Context, name string) (platform.Network, error) {
	n, err := p.project.Network(ctx, name)
	if err != nil {
		return platform.Network{}, err
	}
	return platform.Network{Name: n.Name, EngineName: n.EngineName, Subnets: n.Subnets, Gateways: n.Gateways}, nil
}

// Networks lists the project's networks by compose name.
func (p *Platform) Networks(ctx context.Context) ([]string, error) { return p.project.Networks(ctx) }

// Endpoint saves u's attachment to network for Connect.
func (p *Platform) Endpoint(ctx context.Context, u platform.Unit, network string) (platform.Endpoint, error) {
	ep, err := p.project.Endpoint(ctx, target(u), network)
	return platform.Endpoint(ep), err
}

// Disconnect is docker network disconnect.
func (p *Platform) Disconnect(ctx context.Context, u platform.Unit, network string) error {
	return gone(p.project.Disconnect(ctx, target(u), network))
}

// Connect is docker network connect with the saved aliases and addresses.
func (p *Platform) Connect(ctx context.Context, u platform.Unit, ep platform.Endpoint) error {
	return gone(p.project.Connect(ctx, target(u), docker.Endpoint(ep)))
}

// gone marks the engine's not-found errors as platform.ErrNotFound too,
// keeping their text.
func gone(err error) error {
	if errors.Is(err, docker.ErrNotFound) {
		return tagged{err, platform.ErrNotFound}
	}
	return err
}

// tagged is an engine error that also matches a sentinel of the layers
// above, keeping its text.
type tagged struct {
	error
	sentinel error
}

func (e tagged) Unwrap() error        { return e.error }
func (e tagged) Is(target error) bool { return target == e.sentinel }
