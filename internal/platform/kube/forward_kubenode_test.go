//go:build kubenode

package kube

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/kube/kubetest"
	"github.com/drill-dev/drill/internal/platform"
)

// TestPortForwardOnARealNode: drill's port-forwards on a real node
// (examples/kube/node-up). A pod serves a file that names its incarnation.
// The proxy (http) and the port-forward (other schemes) reach it by the
// pod's name and through a Service; with the pod gone the proxy answers an
// error at once; a held
// connection ends, not hangs, when the pod is deleted, and drill logs why;
// the same local address reaches the pod that replaces it; a port nothing
// listens on closes the client's connection and drill logs the kubelet's
// error; a host that is neither pod nor Service is refused; Close ends the
// listener.
func TestPortForwardOnARealNode(t *testing.T) {
	kubeconfig, node, image := realNode(t)
	admin := kubetest.AdminFrom(t, kubeconfig)
	const ns, pod = "default", "drill-fwd-test"
	labels := map[string]string{"app": "drill-fwd-test"}
	run := func() {
		admin.RunPod(ns, pod, labels, node, "server", image, "tini", "-s", "--", "sh", "-c",
			`mkdir -p /tmp/w && cat /proc/sys/kernel/random/uuid > /tmp/w/id && exec python3 -m http.server 8080 --bind 0.0.0.0 --directory /tmp/w`)
	}
	run()
	admin.Service(ns, "drill-fwd-svc", labels, 8080)

	var logs syncBuffer
	p, err := open(Spec{Kubeconfig: kubeconfig, Namespace: ns, Selector: "app=drill-fwd-test", Container: "server"},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		if admin.PodExists(ns, pod) {
			_, _ = p.Stop(context.Background(), platform.Unit{Service: pod}, 0)
		}
	})
	u := platform.Unit{Service: pod, Name: pod}
	if err := p.Start(ctxFor(t, 2*time.Minute), u); err != nil {
		t.Fatalf("the pod did not come up: %v", err)
	}

	// http goes through the API server's proxy, anything else through a
	// port-forward; both reach the same server.
	proxied, err := p.Forward(ctxFor(t, 30*time.Second), "http", pod, 8080)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := p.Forward(ctxFor(t, 30*time.Second), "http", pod, 8080); err != nil || again != proxied {
		t.Errorf("a second Forward to the same pod and port = %q, %v; want %q again", again, err, proxied)
	}
	addr, err := p.Forward(ctxFor(t, 30*time.Second), "tcp", pod, 8080)
	if err != nil {
		t.Fatal(err)
	}
	// The server may take a moment to listen after the container starts.
	first := waitGet(t, "http://"+proxied+"/id")
	if got := waitGet(t, "http://"+addr+"/id"); got != first {
		t.Errorf("through the port-forward: %q; want the proxy's %q", got, first)
	}
	for _, scheme := range []string{"http", "tcp"} {
		svcAddr, err := p.Forward(ctxFor(t, 30*time.Second), scheme, "drill-fwd-svc", 8080)
		if err != nil {
			t.Fatal(err)
		}
		if got := waitGet(t, "http://"+svcAddr+"/id"); got != first {
			t.Errorf("%s through the Service: %q; want the pod's %q", scheme, got, first)
		}
	}

	_, err = p.Forward(ctxFor(t, 30*time.Second), "tcp", "no-such-pod", 8080)
	if want := "port-forward to no-such-pod: no pod and no Service of that name in namespace default"; err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, platform.ErrNotFound) {
		t.Errorf("Forward to an unknown host: %v; want %q, matching platform.ErrNotFound", err, want)
	}

	// Nothing listens on port 9: the client's connection is closed, and
	// drill's log has the kubelet's reason.
	closed, err := p.Forward(ctxFor(t, 30*time.Second), "tcp", pod, 9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get("http://" + closed + "/id"); err == nil {
		t.Error("a GET through a forward to a closed port succeeded")
	}
	waitFor(t, "drill's log to name the refused port", func() bool {
		return strings.Contains(logs.String(), "port-forward to pod drill-fwd-test port 9")
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "port 9") {
			t.Logf("drill's log: %s", line)
		}
	}

	// A connection held open across the pod's deletion ends.
	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.Write([]byte("GET /id HTTP/1.1\r\nHost: x\r\n")); err != nil { // (unfinished: the server waits)
		t.Fatal(err)
	}
	// The bound only turns a hang into a failure; the test waits for the
	// connection's end.
	_ = held.SetReadDeadline(time.Now().Add(2 * time.Minute))
	type ended struct {
		at  time.Time
		n   int64
		err error
	}
	end := make(chan ended, 1)
	go func() {
		n, err := io.Copy(io.Discard, held)
		end <- ended{time.Now(), n, err}
	}()
	deleted := time.Now()
	if _, err := p.Stop(ctxFor(t, 2*time.Minute), u, 0); err != nil {
		t.Fatal(err)
	}
	gone := time.Since(deleted)
	e := <-end
	var ne net.Error
	if errors.As(e.err, &ne) && ne.Timeout() {
		t.Fatalf("the held connection was still open 2 minutes after the pod was deleted (%d bytes read)", e.n)
	}
	t.Logf("the pod was gone %.1f s after the delete began; the held connection ended %.1f s after it began (%d bytes, %v)",
		gone.Seconds(), e.at.Sub(deleted).Seconds(), e.n, e.err)
	// With the pod gone, the proxy answers at once, with an error.
	if body, err := get("http://" + proxied + "/id"); err == nil {
		t.Errorf("the proxy to a deleted pod answered %q", body)
	} else {
		t.Logf("the proxy to the deleted pod: %v", err)
	}

	run()
	if err := p.Start(ctxFor(t, 2*time.Minute), u); err != nil {
		t.Fatalf("the pod did not come back: %v", err)
	}
	second := waitGet(t, "http://"+proxied+"/id")
	if second == first {
		t.Errorf("after the pod was replaced the proxy still answered %q, the old incarnation", second)
	}
	if got := waitGet(t, "http://"+addr+"/id"); got != second {
		t.Errorf("after the pod was replaced the port-forward answered %q; want the new incarnation %q", got, second)
	}

	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, a := range []string{proxied, addr} {
		if c, err := net.Dial("tcp", a); err == nil {
			c.Close()
			t.Errorf("the forward's listener %s still accepts after Close", a)
		}
	}
}

// get fetches url once, with a bound on the whole request.
func get(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return strings.TrimSpace(string(body)), err
}

// waitGet fetches url until it answers (at most 2 minutes).
func waitGet(t *testing.T, url string) string {
	t.Helper()
	var body string
	var err error
	waitFor(t, "GET "+url, func() bool {
		body, err = get(url)
		return err == nil
	})
	return body
}

// waitFor polls cond every 200 ms for at most 2 minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waited 2 minutes for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
