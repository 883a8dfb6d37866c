package dockertest

import (
	"context"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// TestRemoveImages: the test images carry this run's labels, and
// RemoveImages leaves none of them behind, dangling ones included.
func TestRemoveImages(t *testing.T) {
	imgs := BuildImages(t)
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tag := range []string{imgs.Probe, imgs.Tools} {
		img, err := api.ImageInspect(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		if l := img.Config.Labels; l[LabelTest] != "1" || l[LabelRun] != runID {
			t.Errorf("%s: labels %v, want %s=1 and %s=%s", tag, l, LabelTest, LabelRun, runID)
		}
	}
	if err := RemoveImages(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{imgs.Probe, imgs.Tools} {
		if _, err := api.ImageInspect(ctx, tag); !cerrdefs.IsNotFound(err) {
			t.Errorf("%s after RemoveImages: %v, want not found", tag, err)
		}
	}
	left, err := api.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelRun+"="+runID))})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("%d images of this run left after RemoveImages: %+v", len(left), left)
	}
}
