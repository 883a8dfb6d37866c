package docker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// Compose labels, set alike by Compose v1 and v2.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
	LabelNumber  = "com.docker.compose.container-number"
	LabelNetwork = "com.docker.compose.network"
	LabelOneoff  = "com.docker.compose.oneoff"
)

// DefaultHelperImage carries iptables, tc and ip; NetExec runs it next to a target whose image
// lacks them. It is pulled when absent, so on an engine without a registry set
// Options.HelperImage to a local image.
const DefaultHelperImage = "nicolaka/netshoot:latest"

// Options tune an Engine. The zero value is usable.
type Options struct {
	HelperImage string       // image for helper containers; DefaultHelperImage when empty
	Logger      *slog.Logger // slog.Default() when nil
	// Host is the engine's address (tcp://host:port, unix:///path) when it
	// is not DOCKER_HOST's; TLS settings still come from the environment.
	Host string
	// Dial opens every connection to the engine itself (a stream through an
	// SSH connection to the remote socket); Host is then ignored.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Engine is a connection to one Docker Engine. It is safe for concurrent use.
type Engine struct {
	api         *client.Client
	log         *slog.Logger
	helperImage string

	mu          sync.Mutex
	helperReady bool            // helper image present
	noPrivExec  bool            // the engine refuses privileged exec (runtime cannot grant every capability)
	missing     map[string]bool // image ID + "\x00" + binary: the image lacks it
}

// Connect opens a client from the environment (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH,
// DOCKER_TLS_VERIFY), negotiates the API version and pings the engine, so that an unreachable
// engine is reported here, once, with what to check.
func Connect(ctx context.Context, opts Options) (*Engine, error) {
	clientOpts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	switch {
	case opts.Dial != nil:
		clientOpts = append(clientOpts, client.WithHost("unix:///var/run/docker.sock"), client.WithDialContext(opts.Dial))
	case opts.Host != "":
		clientOpts = append(clientOpts, client.WithHost(opts.Host))
	}
	api, err := client.NewClientWithOpts(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("docker client from environment (check DOCKER_HOST and DOCKER_CERT_PATH): %w", err)
	}
	e := &Engine{api: api, log: opts.Logger, helperImage: opts.HelperImage, missing: map[string]bool{}}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.helperImage == "" {
		e.helperImage = DefaultHelperImage
	}
	if _, err := api.Ping(ctx); err != nil {
		api.Close()
		return nil, e.wrap(err)
	}
	return e, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.api.Close() }

func (e *Engine) wrap(err error) error { return engineError(e.api.DaemonHost(), err) }

// Projects returns the distinct compose project names of running containers, sorted.
func (e *Engine) Projects(ctx context.Context) ([]string, error) {
	return e.projects(ctx, false)
}

func (e *Engine) projects(ctx context.Context, all bool) ([]string, error) {
	cs, err := e.api.ContainerList(ctx, container.ListOptions{All: all, Filters: filters.NewArgs(filters.Arg("label", LabelProject))})
	if err != nil {
		return nil, fmt.Errorf("list compose projects: %w", e.wrap(err))
	}
	return distinctLabel(cs, LabelProject), nil
}

// Project returns a handle on the compose project name, which must have at least one container
// (in any state). An empty name discovers the project: exactly one must have running containers.
func (e *Engine) Project(ctx context.Context, name string) (*Project, error) {
	if name == "" {
		running, err := e.Projects(ctx)
		if err != nil {
			return nil, err
		}
		name, err = chooseProject(running)
		if err != nil {
			return nil, err
		}
		return &Project{e: e, name: name}, nil
	}
	cs, err := e.api.ContainerList(ctx, container.ListOptions{All: true, Limit: 1, Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+name))})
	if err != nil {
		return nil, fmt.Errorf("look up compose project %q: %w", name, e.wrap(err))
	}
	if len(cs) == 0 {
		known, err := e.projects(ctx, true)
		if err != nil {
			return nil, err
		}
		return nil, &NotFoundError{Kind: "compose project", Name: name, Known: known}
	}
	return &Project{e: e, name: name}, nil
}

// chooseProject picks the only running project, or says why it cannot.
func chooseProject(running []string) (string, error) {
	switch len(running) {
	case 1:
		return running[0], nil
	case 0:
		return "", fmt.Errorf("%w: no running docker compose project on this Docker Engine: start the test bed (docker compose up -d) or name the project", ErrNotFound)
	}
	return "", fmt.Errorf("several docker compose projects are running (%s): name the one to drill", strings.Join(running, ", "))
}

// distinctLabel returns the sorted distinct non-empty values of label over cs.
func distinctLabel(cs []container.Summary, label string) []string {
	var out []string
	for _, c := range cs {
		if v := c.Labels[label]; v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
