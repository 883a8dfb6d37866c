package docker_test

import (
	"context"
	"testing"

	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/client/docker/dockertest"
)

// BenchmarkNetRun measures one `iptables -S` in a target's network namespace, per way of
// running it: what a partition or heal costs per command.
func BenchmarkNetRun(b *testing.B) {
	_, p, _ := dockertest.Start(b, composeFile)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		t    docker.Target
	}{{"exec", tools}, {"own image", noadmin}, {"helper image", bare}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				res, err := p.NetRun(ctx, c.t, []string{"iptables", "-S"}, nil)
				if err != nil || res.ExitCode != 0 {
					b.Fatal(res, err)
				}
				if res.Via != c.name && c.name != "own image" {
					b.Fatalf("ran via %s", res.Via)
				}
			}
		})
	}
}
