package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/drill-dev/drill/internal/client/kube"
	"github.com/drill-dev/drill/internal/platform"
)

// dialTimeout bounds the opening of one port-forward connection.
const dialTimeout = 15 * time.Second

// forward is one local listener whose connections go to one port of a pod,
// or of a ready pod behind a Service: byte for byte through a port-forward,
// or, for HTTP, request by request through the API server's proxy.
type forward struct {
	host    string // the pod's or the Service's name
	service bool   // host is a Service: each connection picks a ready pod
	port    int
	ln      net.Listener

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	http  *http.Server // the proxy of an http forward
}

// Forward returns a local address, 127.0.0.1:PORT, that reaches port on
// the pod named host or, when no pod has that name, on a running and ready
// pod of the Service named host. The pod is looked up anew for every
// connection or request, so a pod that its StatefulSet replaced is reached
// again at the same address. Forwards live until Close; asking again for
// the same host and port returns the same address. A host that is neither
// a pod nor a Service is an error.
//
// An http address is served by a local HTTP proxy whose requests go
// through the API server's pods/proxy (services/proxy): a port-forward
// would hold every response of a server that ends it by closing the
// connection (Patroni's REST API answers HTTP/1.0) for a second, the time
// containerd gives the client's side to close. Any other scheme (postgres)
// gets a port-forward: a connection whose pod goes away ends (the client
// sees it closed, not a hang) and drill logs why (at debug level: -v).
func (p *Platform) Forward(ctx context.Context, scheme, host string, port int) (string, error) {
	key := scheme + "://" + host + ":" + strconv.Itoa(port)
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.forwards[key]; ok {
		return f.ln.Addr().String(), nil
	}
	target, err := p.forwardTarget(ctx, host)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("port-forward to %s:%d: %w", host, port, err)
	}
	f := &forward{host: host, service: target != host, port: port, ln: ln, conns: map[net.Conn]struct{}{}}
	if err := p.mayForward(ctx, f, scheme); err != nil {
		ln.Close()
		return "", err
	}
	if scheme == "http" {
		if f.http, err = p.proxy(f); err != nil {
			ln.Close()
			return "", err
		}
		go func() { _ = f.http.Serve(ln) }()
	} else {
		go p.serve(f)
	}
	p.forwards[key] = f
	p.log.Debug("port-forward", "to", key, "namespace", p.spec.Namespace, "local", ln.Addr().String())
	return ln.Addr().String(), nil
}

// mayForward asks the API server whether drill may open f's tunnel: the
// proxy's verbs for http (get for GET, create for POST, patch for PATCH),
// else create pods/portforward. A set of verbs allowed once is not asked
// again (the block's addresses share a few). Callers hold p.mu.
func (p *Platform) mayForward(ctx context.Context, f *forward, scheme string) error {
	perms := []kube.Permission{{Verb: "create", Resource: "pods", Subresource: "portforward"}}
	if scheme == "http" {
		resource := "pods"
		if f.service {
			resource = "services"
		}
		perms = nil
		for _, verb := range []string{"get", "create", "patch"} {
			perms = append(perms, kube.Permission{Verb: verb, Resource: resource, Subresource: "proxy"})
		}
	}
	asked := listPermissions(perms)
	if p.allowed[asked] {
		return nil
	}
	missing, err := p.client.Missing(ctx, perms...)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("the API server %s does not let drill %s in namespace %s, which kubernetes.port_forward needs for %s://%s:%d: grant it with a Role and RoleBinding (see docs/kubernetes.md)",
			p.client.Server(), listPermissions(missing), p.spec.Namespace, scheme, f.host, f.port)
	}
	p.allowed[asked] = true
	return nil
}

// proxy is the HTTP server of an http forward: each request goes to the
// API server's proxy of the pod or Service.
func (p *Platform) proxy(f *forward) (*http.Server, error) {
	rt, err := p.client.Transport()
	if err != nil {
		return nil, err
	}
	kind := "pods"
	if f.service {
		kind = "services"
	}
	target, err := url.Parse(p.client.ProxyURL(kind, f.host, f.port))
	if err != nil {
		return nil, err
	}
	to := fmt.Sprintf("%s:%d", f.host, f.port)
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport: rt,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			level := slog.LevelWarn
			if errors.Is(err, context.Canceled) {
				level = slog.LevelDebug // the client gave up: nothing went wrong here
			}
			p.log.Log(r.Context(), level, "proxy: request failed", "to", to, "path", r.URL.Path, "err", err)
			http.Error(w, fmt.Sprintf("drill's proxy to %s through the API server %s: %v", to, p.client.Server(), err), http.StatusBadGateway)
		},
	}
	return &http.Server{Handler: rp, ReadHeaderTimeout: 30 * time.Second}, nil
}

// forwardTarget is the pod named host, else a ready pod of the Service
// named host. (A Service and its pod never share a name: a StatefulSet's
// pods are NAME-N, a Deployment's carry a hash.)
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
	pod, err := f.host, error(nil)
	if f.service {
		var sp kube.Pod
		sp, err = p.client.ServicePod(ctx, f.host)
		pod = sp.Name
	}
	var remote net.Conn
	if err == nil {
		remote, err = p.client.DialPod(ctx, pod, f.port)
	}
	cancel()
	if err != nil {
		// Debug: during a drill's faults connections fail by design, and
		// the client reports its own error.
		p.log.Debug("port-forward: connection refused", "to", fmt.Sprintf("%s:%d", f.host, f.port), "err", err)
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
		p.log.Debug("port-forward: connection ended", "to", fmt.Sprintf("%s:%d", f.host, f.port), "pod", pod, "err", err)
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
	if f.http != nil {
		return f.http.Close()
	}
	err := f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	return err
}
