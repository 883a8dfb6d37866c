// Package dockertest gives tests a real compose project on the local Docker Engine: it builds
// drill's two test images from scratch (no registry needed) and starts and removes projects.
// Tests only: drill itself never shells out to docker.
//
// Images:
//   - Probe: FROM scratch with /probe (testdata/probe: TCP echo server on 7000, dial and hold clients).
//   - Tools: Probe plus the host's iptables (the backend the host uses: xtables-nft-multi or
//     xtables-legacy-multi, as the engine does), tc and ip, with their shared libraries (found
//     with ldd) and the xtables extensions. Also the helper image for NetExec.
//
// The images are this test binary's own (tagged and labelled with its run ID): a package that
// builds them removes them at its end with Main as its TestMain.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Images are the tags of the test images.
type Images struct {
	Probe string
	Tools string
}

// Labels of the test images: every image this package builds carries
// LabelTest, and LabelRun with the building test binary's run ID, so that
// RemoveImages removes exactly its own, whatever other test binaries on the
// same engine are doing.
const (
	LabelTest = "drill.test"
	LabelRun  = "drill.test.run"
)

// runID names this test binary's run in its images' tags and labels.
var runID = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

// Main runs a package's tests and then removes the images they built; use
// it as TestMain in every package that calls BuildImages or Start:
//
//	func TestMain(m *testing.M) { dockertest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := RemoveImages(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dockertest: removing the test images:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// RemoveImages removes every image this test binary built (by LabelRun),
// dangling ones included.
func RemoveImages(ctx context.Context) error {
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer api.Close()
	list, err := api.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelRun+"="+runID))})
	if err != nil {
		return err
	}
	var errs []error
	for _, img := range list {
		if _, err := api.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var (
	buildOnce sync.Once
	built     Images
	buildErr  error
)

// BuildImages builds (or finds, by content hash) the test images, once per test binary.
func BuildImages(t testing.TB) Images {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = buildImages(context.Background(), t.TempDir()) })
	if buildErr != nil {
		t.Fatalf("build test images: %v", buildErr)
	}
	return built
}

// file is one entry of an image's root file system.
type file struct {
	path string // absolute, in the image
	link string // symlink target, or
	data []byte // content
	mode int64
}

func buildImages(ctx context.Context, tmp string) (Images, error) {
	probe, err := buildProbe(ctx, tmp)
	if err != nil {
		return Images{}, err
	}
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return Images{}, err
	}
	defer api.Close()
	probeFiles := []file{{path: "/probe", data: probe, mode: 0o755}}
	var imgs Images
	if imgs.Probe, err = buildImage(ctx, api, "drill-test-probe", probeFiles); err != nil {
		return Images{}, err
	}
	tools, err := netTools()
	if err != nil {
		return Images{}, err
	}
	if imgs.Tools, err = buildImage(ctx, api, "drill-test-tools", append(probeFiles, tools...)); err != nil {
		return Images{}, err
	}
	return imgs, nil
}

// buildProbe compiles testdata/probe as a static binary.
func buildProbe(ctx context.Context, tmp string) ([]byte, error) {
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "testdata", "probe")
	out := filepath.Join(tmp, "probe")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build probe: %v: %s", err, msg)
	}
	return os.ReadFile(out)
}

// netTools collects the host's iptables, tc and ip with everything they load.
func netTools() ([]file, error) {
	v, err := exec.Command("iptables", "-V").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("the test images carry the host's iptables, and `iptables -V` failed: %v: %s", err, v)
	}
	multi := "xtables-legacy-multi"
	if strings.Contains(string(v), "nf_tables") {
		multi = "xtables-nft-multi"
	}
	var files []file
	var elfs []string
	for _, bin := range []string{multi, "tc", "ip"} {
		p, err := exec.LookPath(bin)
		if err != nil {
			return nil, fmt.Errorf("the test images carry the host's %s: %w", bin, err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, file{path: "/usr/sbin/" + bin, data: data, mode: 0o755})
		elfs = append(elfs, p)
	}
	for _, l := range []string{"iptables", "iptables-save", "iptables-restore"} {
		files = append(files, file{path: "/usr/sbin/" + l, link: multi})
	}
	// xtables loads its match and target extensions with dlopen: ldd cannot see them.
	exts, _ := filepath.Glob("/usr/lib*/*/xtables/*.so")
	if more, _ := filepath.Glob("/usr/lib*/xtables/*.so"); len(exts) == 0 {
		exts = more
	}
	if len(exts) == 0 {
		return nil, errors.New("no xtables extensions found under /usr/lib*/")
	}
	elfs = append(elfs, exts...)
	libs := map[string]bool{}
	for _, p := range elfs {
		out, err := exec.Command("ldd", p).Output()
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w", p, err)
		}
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "/") {
				libs[f] = true
			}
		}
	}
	for _, p := range append(exts, slices.Sorted(maps.Keys(libs))...) {
		data, err := os.ReadFile(p) // follows symlinks: the image gets the file under the name ldd printed
		if err != nil {
			return nil, err
		}
		files = append(files, file{path: p, data: data, mode: 0o755})
	}
	if data, err := os.ReadFile("/etc/protocols"); err == nil {
		files = append(files, file{path: "/etc/protocols", data: data, mode: 0o644})
	}
	return files, nil
}

// buildImage builds FROM scratch an image of files, tagged name:<content hash>-<run ID> and
// labelled with the run ID (see RemoveImages), unless the engine already has it.
func buildImage(ctx context.Context, api *client.Client, name string, files []file) (string, error) {
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.path, b.path) })
	files = slices.CompactFunc(files, func(a, b file) bool { return a.path == b.path })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", f.path, f.link, f.mode)
		h.Write(f.data)
	}
	tag := name + ":" + hex.EncodeToString(h.Sum(nil))[:12] + "-" + runID
	if _, err := api.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	add := func(hdr *tar.Header, data []byte) error {
		hdr.ModTime = now
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dockerfile := "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/sbin:/usr/bin:/sbin:/bin\nENTRYPOINT [\"/probe\"]\nCMD [\"serve\"]\n"
	if err := add(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}, []byte(dockerfile)); err != nil {
		return "", err
	}
	for _, d := range []string{"rootfs/tmp", "rootfs/run", "rootfs/etc"} {
		if err := add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil); err != nil {
			return "", err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Name: "rootfs" + f.path, Mode: f.mode, Size: int64(len(f.data))}
		if f.link != "" {
			hdr = &tar.Header{Name: "rootfs" + f.path, Typeflag: tar.TypeSymlink, Linkname: f.link, Mode: 0o777}
		}
		if err := add(hdr, f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	// NoCache: the classic builder would otherwise reuse another test binary's
	// intermediate COPY layer image (same content, same second), which that
	// binary's RemoveImages deletes under our feet ("failed to get digest").
	resp, err := api.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true, NoCache: true,
		Labels: map[string]string{LabelTest: "1", LabelRun: runID}})
	if err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", fmt.Errorf("build %s: %w", tag, err)
		}
		if msg.Error != "" {
			return "", fmt.Errorf("build %s: %s", tag, msg.Error)
		}
	}
	return tag, nil
}
