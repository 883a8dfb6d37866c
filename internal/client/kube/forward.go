package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
)

// DialPod opens one TCP connection to port on the pod, carried through the
// API server's pods/portforward (as kubectl port-forward does, one
// streaming connection per TCP connection, so that a pod replaced under the
// same name is reached by the next dial). The connection ends when the pod
// goes away; Close releases everything. What the kubelet reports (nothing
// listens on the port, the pod is gone) is the error of the Read that meets
// the end of the data.
func (c *Client) DialPod(ctx context.Context, pod string, port int) (net.Conn, error) {
	req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.namespace).Name(pod).SubResource("portforward")
	u := req.URL()
	ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, c.rest)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	rt, upgrader, err := spdy.RoundTripperFor(c.rest)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	dialer := portforward.NewFallbackDialerForStreaming(ws,
		spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: rt}, http.MethodPost, u),
		func(err error) bool { return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err) })

	type dialed struct {
		conn httpstream.Connection
		err  error
	}
	// Dial takes no context: bound it here, and close a connection that
	// arrives after the caller gave up.
	done := make(chan dialed, 1)
	go func() {
		conn, _, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
		done <- dialed{conn, err}
	}()
	var d dialed
	select {
	case d = <-done:
	case <-ctx.Done():
		go func() {
			if d := <-done; d.conn != nil {
				d.conn.Close()
			}
		}()
		return nil, fmt.Errorf("port-forward to pod %s port %d: %w", pod, port, ctx.Err())
	}
	if d.err != nil {
		return nil, c.explain(d.err, "create", "pods/portforward", pod)
	}
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(port))
	headers.Set(corev1.PortForwardRequestIDHeader, "0")
	errStream, err := d.conn.CreateStream(headers)
	if err != nil {
		d.conn.Close()
		return nil, fmt.Errorf("port-forward to pod %s port %d: error stream: %w", pod, port, err)
	}
	errStream.Close() // drill writes nothing to it
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := d.conn.CreateStream(headers)
	if err != nil {
		d.conn.Close()
		return nil, fmt.Errorf("port-forward to pod %s port %d: data stream: %w", pod, port, err)
	}
	pc := &podConn{conn: d.conn, data: data, pod: pod, port: port, remoteErr: make(chan struct{})}
	go func() {
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil:
			pc.setErr(fmt.Errorf("port-forward to pod %s port %d dropped: %w", pod, port, err))
		case len(msg) > 0:
			pc.setErr(fmt.Errorf("port-forward to pod %s port %d: %s", pod, port, msg))
		}
		close(pc.remoteErr)
	}()
	return pc, nil
}

// podConn is a net.Conn over a port-forward's data stream.
type podConn struct {
	conn      httpstream.Connection
	data      httpstream.Stream
	pod       string
	port      int
	remoteErr chan struct{} // closed once the error stream has ended

	mu     sync.Mutex
	err    error
	closed bool
}

func (p *podConn) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// Read returns io.EOF at the end of the data, or the kubelet's error when it
// sent one (waiting briefly for the error stream, which may end after the
// data).
func (p *podConn) Read(b []byte) (int, error) {
	n, err := p.data.Read(b)
	if err == nil {
		return n, nil
	}
	select {
	case <-p.remoteErr:
	case <-time.After(time.Second):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil && !p.closed {
		return n, p.err
	}
	if errors.Is(err, io.EOF) {
		return n, io.EOF
	}
	return n, fmt.Errorf("port-forward to pod %s port %d dropped: %w", p.pod, p.port, err)
}

func (p *podConn) Write(b []byte) (int, error) { return p.data.Write(b) }

// Close resets the data stream and closes the streaming connection.
func (p *podConn) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	_ = p.data.Reset()
	return p.conn.Close()
}

func (p *podConn) LocalAddr() net.Addr  { return forwardAddr("drill") }
func (p *podConn) RemoteAddr() net.Addr { return forwardAddr(fmt.Sprintf("pod/%s:%d", p.pod, p.port)) }

// Deadlines are not supported by the streams: callers bound their work with
// contexts, and Close ends a blocked Read or Write.
func (p *podConn) SetDeadline(time.Time) error      { return nil }
func (p *podConn) SetReadDeadline(time.Time) error  { return nil }
func (p *podConn) SetWriteDeadline(time.Time) error { return nil }

// forwardAddr names a port-forward's ends.
type forwardAddr string

func (a forwardAddr) Network() string { return "portforward" }
func (a forwardAddr) String() string  { return string(a) }

// ServicePod returns a running, ready pod that the Service named service
// selects (the first by name, so that repeated calls agree), as kubectl
// port-forward svc/NAME picks one.
func (c *Client) ServicePod(ctx context.Context, service string) (Pod, error) {
	svc, err := c.cs.CoreV1().Services(c.namespace).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return Pod{}, c.explain(err, "get", "services", service)
	}
	if len(svc.Spec.Selector) == 0 {
		return Pod{}, fmt.Errorf("service %s in namespace %s has no selector: name one of its pods instead", service, c.namespace)
	}
	list, err := c.cs.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return Pod{}, c.explain(err, "list", "pods", "")
	}
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && ready(p) {
			return podOf(p), nil
		}
	}
	return Pod{}, fmt.Errorf("service %s in namespace %s: no running, ready pod: %w", service, c.namespace, ErrNotFound)
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ProxyURL is the API server's proxy to port of the pod (kind "pods") or
// the Service (kind "services") named name: an HTTP request to ProxyURL +
// "/path" reaches http://NAME:PORT/path, as kubectl proxy does. Use it with
// Transport.
func (c *Client) ProxyURL(kind, name string, port int) string {
	return c.cs.CoreV1().RESTClient().Get().Namespace(c.namespace).Resource(kind).
		Name(fmt.Sprintf("%s:%d", name, port)).SubResource("proxy").URL().String()
}

// Transport is an HTTP round tripper with the client's credentials, for
// ProxyURL.
func (c *Client) Transport() (http.RoundTripper, error) {
	return rest.TransportFor(c.rest)
}
