package steps

import (
	"errors"
	"io"
	"sync"

	"github.com/drill-dev/drill/cluster"
)

// Infra gives steps the clients of the outside world (the Docker engine,
// Patroni, PostgreSQL), each created on first use and shared by the steps of
// a scenario, so that a scenario of control steps never needs any of them.
// Each step family keeps its client under its own name:
//
//	c, err := infra.Client("docker", func() (any, error) { return docker.New(ctx) })
//
// Tests may Provide a fake under the same name first.
type Infra struct {
	Cluster *cluster.Cluster

	mu      sync.Mutex
	clients map[string]any
}

// NewInfra returns an Infra for a cluster's settings.
func NewInfra(c *cluster.Cluster) *Infra {
	if c == nil {
		c = &cluster.Cluster{}
	}
	return &Infra{Cluster: c}
}

// Client returns the client kept under name, creating it with make on first
// use. A failed creation is not kept: the next call tries again.
func (i *Infra) Client(name string, make func() (any, error)) (any, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if c, ok := i.clients[name]; ok {
		return c, nil
	}
	c, err := make()
	if err != nil {
		return nil, err
	}
	if i.clients == nil {
		i.clients = map[string]any{}
	}
	i.clients[name] = c
	return c, nil
}

// Provide sets the client kept under name (tests use it for fakes).
func (i *Infra) Provide(name string, client any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.clients == nil {
		i.clients = map[string]any{}
	}
	i.clients[name] = client
}

// Close closes every client that is an io.Closer.
func (i *Infra) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	var errs []error
	for _, c := range i.clients {
		if cl, ok := c.(io.Closer); ok {
			errs = append(errs, cl.Close())
		}
	}
	i.clients = nil
	return errors.Join(errs...)
}
