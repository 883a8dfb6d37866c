package dockertest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/docker"
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
