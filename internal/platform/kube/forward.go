package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/drill-dev/drill/internal/client/kube"
	"github.com/drill-dev/drill/internal/platform"
)

// dialTimeout bounds the opening of one port-forward connection.
const dialTimeout = 15 * time.Second

// forward is one local listener whose connections go to one port of a pod,
// or of a ready pod behind a Service.
type forward struct {
	host string // the pod's or the Service's name
	port int
	ln   net.Listener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Forward returns a local address, 127.0.0.1:PORT, whose connections reach
// port on the pod named host or, when no pod has that name, on a running
// and ready pod of the Service named host. The pod is looked up anew for
// every connection, so a pod that its StatefulSet replaced is reached again
// at the same address; a connection whose pod goes away ends (the client
// sees its connection closed) and drill logs why. Forwards live until
// Close; asking again for the same host and port returns the same address.
// A host that is neither a pod nor a Service is an error.
func (p *Platform) Forward(ctx context.Context, host string, port int) (string, error) {
	key := host + ":" + strconv.Itoa(port)
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.forwards[key]; ok {
		return f.ln.Addr().String(), nil
	}
	if len(p.forwards) == 0 {
		perm := kube.Permission{Verb: "create", Resource: "pods", Subresource: "portforward"}
		missing, err := p.client.Missing(ctx, perm)
		if err != nil {
			return "", err
		}
		if len(missing) > 0 {
			return "", fmt.Errorf("the API server %s does not let drill %s in namespace %s, which kubernetes.port_forward needs: grant it with a Role and RoleBinding (see docs/kubernetes.md)",
				p.client.Server(), perm, p.spec.Namespace)
		}
	}
	if _, err := p.forwardTarget(ctx, host); err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("port-forward to %s:%d: %w", host, port, err)
	}
	f := &forward{host: host, port: port, ln: ln, conns: map[net.Conn]struct{}{}}
	p.forwards[key] = f
	go p.serve(f)
	p.log.Debug("port-forward", "to", key, "namespace", p.spec.Namespace, "local", ln.Addr().String())
	return ln.Addr().String(), nil
}

// forwardTarget is the pod named host, else a ready pod of the Service
// named host.
func (p *Platform) forwardTarget(ctx context.Context, host string) (string, error) {
	pod, err := p.client.Pod(ctx, host)
	if err == nil {
		return pod.Name, nil
	}
	if !errors.Is(err, kube.ErrNotFound) {
		return "", fmt.Errorf("port-forward to %s: %w", host, err)
	}
	pod, serr := p.client.ServicePod(ctx, host)
	if serr == nil {
		return pod.Name, nil
	}
	if errors.Is(serr, kube.ErrNotFound) {
		return "", fmt.Errorf("port-forward to %s: no pod and no Service of that name in namespace %s (%w)", host, p.spec.Namespace, platform.ErrNotFound)
	}
	return "", fmt.Errorf("port-forward to %s: %w", host, serr)
}

// serve accepts connections until the listener is closed.
func (p *Platform) serve(f *forward) {
	for {
		local, err := f.ln.Accept()
		if err != nil {
			return
		}
		go p.carry(f, local)
	}
}

// carry joins one local connection to a new port-forward connection and
// copies both ways until either side ends.
func (p *Platform) carry(f *forward, local net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	pod, err := p.forwardTarget(ctx, f.host)
	var remote net.Conn
	if err == nil {
		remote, err = p.client.DialPod(ctx, pod, f.port)
	}
	cancel()
	if err != nil {
		p.log.Warn("port-forward: connection refused", "to", fmt.Sprintf("%s:%d", f.host, f.port), "err", err)
		local.Close()
		return
	}
	if !f.track(local, true) {
		local.Close()
		remote.Close()
		return
	}
	defer f.track(local, false)
	var once sync.Once
	closeBoth := func() { once.Do(func() { local.Close(); remote.Close() }) }
	go func() {
		_, _ = io.Copy(remote, local)
		closeBoth()
	}()
	if _, err := io.Copy(local, remote); err != nil {
		p.log.Warn("port-forward: connection ended", "to", fmt.Sprintf("%s:%d", f.host, f.port), "pod", pod, "err", err)
	}
	closeBoth()
}

// track adds or removes a live connection; adding fails once the forward is
// closed.
func (f *forward) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !add {
		delete(f.conns, c)
		return true
	}
	if f.conns == nil {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

// close stops the listener and ends every live connection.
func (f *forward) close() error {
	err := f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	return err
}
