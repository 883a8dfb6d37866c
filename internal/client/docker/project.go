package docker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Project is one compose project on an Engine. Every operation looks its container up again by
// label, so a container that compose recreated is found under its new ID.
type Project struct {
	e    *Engine
	name string
}

// Name returns the compose project name.
func (p *Project) Name() string { return p.name }

// Services returns the project's service names (containers in any state, one-off `run`
// containers excluded), sorted.
func (p *Project) Services(ctx context.Context) ([]string, error) {
	cs, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	return distinctLabel(cs, LabelService), nil
}

// TargetOf maps a container name or ID to its Target, refusing (ErrOutsideProject) a container
// that is not a service container of this project.
func (p *Project) TargetOf(ctx context.Context, nameOrID string) (Target, error) {
	c, err := p.e.api.ContainerInspect(ctx, nameOrID)
	if cerrdefs.IsNotFound(err) {
		return Target{}, fmt.Errorf("%w: no container %q on this Docker Engine", ErrNotFound, nameOrID)
	}
	if err != nil {
		return Target{}, fmt.Errorf("inspect container %q: %w", nameOrID, p.e.wrap(err))
	}
	labels := c.Config.Labels
	if labels[LabelProject] != p.name || labels[LabelService] == "" || isOneoff(labels) {
		return Target{}, &OutsideProjectError{Container: nameOrID, Project: p.name, Actual: labels[LabelProject]}
	}
	n, _ := strconv.Atoi(labels[LabelNumber])
	return Target{Service: labels[LabelService], Number: n}, nil
}

// ref is a resolved target: the container that currently stands for it.
type ref struct {
	t    Target // as the caller named it
	id   string
	name string
}

func (r ref) String() string { return fmt.Sprintf("service %q (container %s)", r.t, r.name) }

// list returns the project's service containers in any state.
func (p *Project) list(ctx context.Context, extra ...filters.KeyValuePair) ([]container.Summary, error) {
	args := append([]filters.KeyValuePair{filters.Arg("label", LabelProject+"="+p.name)}, extra...)
	cs, err := p.e.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(args...)})
	if err != nil {
		return nil, fmt.Errorf("list containers of compose project %q: %w", p.name, p.e.wrap(err))
	}
	return slices.DeleteFunc(cs, func(c container.Summary) bool { return isOneoff(c.Labels) }), nil
}

func isOneoff(labels map[string]string) bool { return strings.EqualFold(labels[LabelOneoff], "true") }

// Container is one container of a service, as the engine lists it.
type Container struct {
	Target Target // the service and the container's number (0 when compose gave it none)
	Name   string
	Status string // created, running, paused, restarting, removing, exited or dead
}

// Containers lists the containers of service in any state (one-off `run` containers excluded),
// sorted by container number. A service with no container is a *NotFoundError that lists the
// project's services.
func (p *Project) Containers(ctx context.Context, service string) ([]Container, error) {
	cs, err := p.serviceContainers(ctx, service)
	if err != nil {
		return nil, err
	}
	out := make([]Container, len(cs))
	for i, c := range cs {
		out[i] = Container{Target: Target{Service: service, Number: number(c)}, Name: containerName(c), Status: c.State}
	}
	return out, nil
}

// serviceContainers returns service's containers sorted by number; none is a *NotFoundError.
func (p *Project) serviceContainers(ctx context.Context, service string) ([]container.Summary, error) {
	if service == "" {
		return nil, fmt.Errorf("empty service name for compose project %q", p.name)
	}
	cs, err := p.list(ctx, filters.Arg("label", LabelService+"="+service))
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		services, err := p.Services(ctx)
		if err != nil {
			return nil, err
		}
		return nil, &NotFoundError{Kind: "service", Name: service, Project: p.name, Known: services}
	}
	slices.SortFunc(cs, func(a, b container.Summary) int { return number(a) - number(b) })
	return cs, nil
}

// resolve finds the one container that stands for t, by label.
func (p *Project) resolve(ctx context.Context, t Target) (ref, error) {
	cs, err := p.serviceContainers(ctx, t.Service)
	if err != nil {
		return ref{}, err
	}
	var numbers []string
	for _, c := range cs {
		if t.Number == 0 && len(cs) == 1 || t.Number != 0 && number(c) == t.Number {
			return ref{t: t, id: c.ID, name: containerName(c)}, nil
		}
		numbers = append(numbers, strconv.Itoa(number(c)))
	}
	if t.Number == 0 {
		return ref{}, fmt.Errorf("service %q in compose project %q has %d containers (numbers: %s): name one, e.g. %s#%s",
			t.Service, p.name, len(cs), strings.Join(numbers, ", "), t.Service, numbers[0])
	}
	return ref{}, &NotFoundError{Kind: "container number", Name: strconv.Itoa(t.Number), Service: t.Service, Project: p.name, Known: numbers}
}

func number(c container.Summary) int {
	n, _ := strconv.Atoi(c.Labels[LabelNumber])
	return n
}

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:12]
}

// fail wraps an engine error from op on r into one line.
func (p *Project) fail(op string, r ref, err error) error {
	return fmt.Errorf("%s %s in compose project %q: %w", op, r, p.name, p.e.wrap(err))
}
