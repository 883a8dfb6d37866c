package dockertest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/docker"
)

// Start builds the images, starts a compose project from composeTemplate (fmt verbs %[1]s for
// the probe image and %[2]s for the tools image) and returns a connection to it whose helper
// image is the tools image. Everything is removed at cleanup.
func Start(t testing.TB, composeTemplate string) (*docker.Engine, *docker.Project, Images) {
	t.Helper()
	imgs := BuildImages(t)
	name := Compose(t, fmt.Sprintf(composeTemplate, imgs.Probe, imgs.Tools))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := docker.Connect(ctx, docker.Options{HelperImage: imgs.Tools})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	p, err := e.Project(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return e, p, imgs
}

// Dial is the probe's verdict on one address.
type Dial struct {
	OK  bool
	RTT time.Duration // of the echo, when OK
}

// Reach runs `probe dial` in from's container and returns its verdict per host:port. The probe
// gives each address 700 ms to connect and echo.
func Reach(t testing.TB, p *docker.Project, from docker.Target, addrs ...string) map[string]Dial {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Exec(ctx, from, append([]string{"/probe", "dial", "-timeout", "700ms"}, addrs...), nil)
	if err != nil {
		t.Fatalf("probe dial from %s: %v", from, err)
	}
	got := map[string]Dial{}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		d := Dial{OK: f[0] == "ok"}
		if d.OK && len(f) == 3 {
			d.RTT, _ = time.ParseDuration(f[2])
		}
		got[strings.TrimSuffix(f[1], ":")] = d
	}
	if len(got) != len(addrs) {
		t.Fatalf("probe dial from %s: exit %d, stdout %q, stderr %q", from, res.ExitCode, res.Stdout, res.Stderr)
	}
	return got
}

// Expect runs Reach from one container and fails the test for every host:port of want whose
// reachability is not the one given.
func Expect(t testing.TB, p *docker.Project, from docker.Target, want map[string]bool) {
	t.Helper()
	addrs := slices.Sorted(maps.Keys(want))
	got := Reach(t, p, from, addrs...)
	for _, a := range addrs {
		if got[a].OK != want[a] {
			t.Errorf("%s -> %s: reachable %t, want %t", from, a, got[a].OK, want[a])
		}
	}
}

// FromHost reports whether the calling process, on the host, gets an echo from the probe at
// addr:7000 within 700 ms.
func FromHost(addr netip.Addr) bool {
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(addr, 7000).String(), 700*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(700 * time.Millisecond))
	buf := make([]byte, 5)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	_, err = c.Read(buf)
	return err == nil && string(buf) == "ping\n"
}

// Context returns a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
