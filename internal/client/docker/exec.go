package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/stdcopy"
)

// ExecResult is the outcome of a command that ran to its end.
type ExecResult struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
	Via      string // how NetRun ran it: "exec", "own image" or "helper image"; "exec" for Exec
}

// Labels on helper containers, so that a leftover one can be found and removed by hand.
const (
	LabelHelper       = "dev.drill.helper"
	LabelHelperTarget = "dev.drill.helper.target"
)

// Exec runs argv in t's container as `docker exec` does (its filesystem, user and namespaces),
// feeding stdin when it is not nil, and waits for the end. A non-zero exit is not an error; a
// command that could not start comes back with exit code 126 or 127 and the engine's message on
// Stdout. When ctx ends first, Exec returns ctx's error; the process may go on in the container
// (the Engine API cannot kill an exec).
func (p *Project) Exec(ctx context.Context, t Target, argv []string, stdin []byte) (ExecResult, error) {
	r, err := p.resolve(ctx, t)
	if err != nil {
		return ExecResult{}, err
	}
	return p.exec(ctx, r, argv, stdin, execOpts{})
}

// ExecAsRoot is Exec as user 0, whatever user the image runs as: for
// changing a member's files.
func (p *Project) ExecAsRoot(ctx context.Context, t Target, argv []string, stdin []byte) (ExecResult, error) {
	r, err := p.resolve(ctx, t)
	if err != nil {
		return ExecResult{}, err
	}
	return p.exec(ctx, r, argv, stdin, execOpts{user: "0"})
}

// execOpts are how an exec runs: privileged (with every capability), as
// another user than the image's.
type execOpts struct {
	privileged bool
	user       string
}

// NetExec runs argv in the network namespace of target (a Target in ParseTarget's form) with
// NET_ADMIN, returning its stdout. A non-zero exit is an *ExitError carrying stderr. It
// implements netfault.NetExecer; see NetRun for how it runs.
func (p *Project) NetExec(ctx context.Context, target string, argv []string, stdin []byte) ([]byte, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	res, err := p.NetRun(ctx, t, argv, stdin)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return res.Stdout, &ExitError{Argv: argv, Code: res.ExitCode, Stderr: string(res.Stderr), Where: fmt.Sprintf("service %q (%s)", t, res.Via)}
	}
	return res.Stdout, nil
}

// NetRun runs argv in the network namespace of t's running container with NET_ADMIN, and
// reports how (Via), trying in turn:
//   - "exec": an exec in the container, when it is not paused: a plain one when the container
//     has NET_ADMIN, a privileged one otherwise (skipped once the engine refused one);
//   - "own image": a short-lived helper container of the target's own image that shares its
//     network namespace, with NET_ADMIN;
//   - "helper image": the same with the Engine's helper image.
//
// A container that is not running has no namespace: the error matches ErrNoNamespace. A step
// is skipped once the target's image is known to lack argv[0]. Helper containers are
// removed afterwards, also when ctx ends. A non-zero exit is not an error.
func (p *Project) NetRun(ctx context.Context, t Target, argv []string, stdin []byte) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, errors.New("netexec: empty command")
	}
	r, err := p.resolve(ctx, t)
	if err != nil {
		return ExecResult{}, err
	}
	c, err := p.e.api.ContainerInspect(ctx, r.id)
	if err != nil {
		return ExecResult{}, p.fail("inspect", r, err)
	}
	if c.State == nil || !c.State.Running {
		return ExecResult{}, &sentinelError{fmt.Sprintf("%s in compose project %q is not running: it has no network namespace to run %s in", r, p.name, argv[0]), ErrNoNamespace}
	}
	privileged := !hasNetAdmin(c.HostConfig)
	if p.e.tryExec(c.Image, argv[0], privileged) && !c.State.Paused {
		res, err := p.exec(ctx, r, argv, stdin, execOpts{privileged: privileged})
		if err != nil {
			return res, err
		}
		switch {
		case engineRefused(res, "apply caps") && privileged:
			p.e.log.WarnContext(ctx, "the Docker Engine refuses privileged exec; using helper containers for network commands", "error", firstLine(res.Stdout))
			p.e.setNoPrivExec()
		case engineRefused(res, notFound...):
			p.e.setMissing(c.Image, argv[0])
		default:
			return res, nil
		}
	}
	if !p.e.isMissing(c.Image, argv[0]) {
		res, err := p.helper(ctx, r, c.Image, argv, stdin)
		if !errors.Is(err, errNoBinary) {
			res.Via = "own image"
			return res, err
		}
		p.e.setMissing(c.Image, argv[0])
	}
	p.e.log.DebugContext(ctx, "no "+argv[0]+" in the target's image; using the helper image", "target", r.t.String(), "image", p.e.helperImage)
	if err := p.e.ensureHelperImage(ctx); err != nil {
		return ExecResult{}, err
	}
	res, err := p.helper(ctx, r, p.e.helperImage, argv, stdin)
	res.Via = "helper image"
	return res, err
}

// notFound are the engine's words for a command missing from an image.
var notFound = []string{"executable file not found", "no such file or directory"}

// errNoBinary: the helper's image lacks the command.
var errNoBinary = errors.New("command not in the image")

// hasNetAdmin reports whether processes in a container with hc hold CAP_NET_ADMIN.
func hasNetAdmin(hc *container.HostConfig) bool {
	if hc == nil {
		return false
	}
	is := func(c string) bool {
		c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
		return c == "NET_ADMIN" || c == "ALL"
	}
	return hc.Privileged || slices.ContainsFunc(hc.CapAdd, is) && !slices.ContainsFunc(hc.CapDrop, is)
}

// engineRefused reports whether the exec never started and the engine's message says one of why.
func engineRefused(res ExecResult, why ...string) bool {
	if res.ExitCode != 126 && res.ExitCode != 127 {
		return false
	}
	out := string(res.Stdout) + string(res.Stderr)
	return strings.Contains(out, "OCI runtime exec failed") && slices.ContainsFunc(why, func(w string) bool { return strings.Contains(out, w) })
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

func (e *Engine) tryExec(image, binary string, privileged bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.missing[image+"\x00"+binary] && !(privileged && e.noPrivExec)
}

func (e *Engine) isMissing(image, binary string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.missing[image+"\x00"+binary]
}

func (e *Engine) setMissing(image, binary string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.missing[image+"\x00"+binary] = true
}

func (e *Engine) setNoPrivExec() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.noPrivExec = true
}

// exec runs argv through the exec API in r's container.
func (p *Project) exec(ctx context.Context, r ref, argv []string, stdin []byte, o execOpts) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, errors.New("exec: empty command")
	}
	op := "exec " + argv[0] + " in"
	p.debug(ctx, "exec", r, "argv", argv, "privileged", o.privileged)
	cr, err := p.e.api.ContainerExecCreate(ctx, r.id, container.ExecOptions{
		Cmd: argv, Privileged: o.privileged, User: o.user, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return ExecResult{}, p.fail(op, r, err)
	}
	hj, err := p.e.api.ContainerExecAttach(ctx, cr.ID, container.ExecAttachOptions{})
	if err != nil {
		return ExecResult{}, p.fail(op, r, err)
	}
	res, err := stream(ctx, hj, stdin)
	res.Via = "exec"
	if err != nil {
		return res, p.fail(op, r, err)
	}
	for {
		ins, err := p.e.api.ContainerExecInspect(ctx, cr.ID)
		if cerrdefs.IsNotFound(err) {
			// The engine forgets an exec that failed to start (exit 126).
			res.ExitCode = 126
			return res, nil
		}
		if err != nil {
			return res, p.fail(op, r, err)
		}
		if !ins.Running {
			res.ExitCode = ins.ExitCode
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, p.fail(op, r, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// helper runs argv in a new container of image that shares r's network namespace, then
// removes it. When image lacks argv[0] the error wraps errNoBinary.
func (p *Project) helper(ctx context.Context, r ref, image string, argv []string, stdin []byte) (ExecResult, error) {
	op := "run helper " + argv[0] + " for"
	p.debug(ctx, "run helper", r, "image", image, "argv", argv)
	hasStdin := stdin != nil
	suffix := make([]byte, 4)
	rand.Read(suffix)
	created, err := p.e.api.ContainerCreate(ctx,
		&container.Config{
			Image: image, Entrypoint: argv[:1], Cmd: argv[1:], User: "0",
			AttachStdin: hasStdin, OpenStdin: hasStdin, StdinOnce: hasStdin, AttachStdout: true, AttachStderr: true,
			Labels: map[string]string{LabelHelper: "netexec", LabelHelperTarget: r.id},
		},
		&container.HostConfig{NetworkMode: container.NetworkMode("container:" + r.id), CapAdd: []string{"NET_ADMIN"}},
		nil, nil, "drill-netexec-"+r.name+"-"+hex.EncodeToString(suffix))
	if err != nil {
		return ExecResult{}, p.fail(op, r, err)
	}
	defer func() {
		// Remove under a context of its own: a helper must not outlive a cancelled drill.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := p.e.api.ContainerRemove(rctx, created.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			p.e.log.WarnContext(ctx, "could not remove helper container", "id", created.ID, "error", err)
		}
	}()
	hj, err := p.e.api.ContainerAttach(ctx, created.ID, container.AttachOptions{Stream: true, Stdin: hasStdin, Stdout: true, Stderr: true})
	if err != nil {
		return ExecResult{}, p.fail(op, r, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	waitC, waitErr := p.e.api.ContainerWait(wctx, created.ID, container.WaitConditionNextExit)
	if err := p.e.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		hj.Close()
		if slices.ContainsFunc(notFound, func(w string) bool { return strings.Contains(err.Error(), w) }) {
			err = fmt.Errorf("%w: %w", errNoBinary, err)
		}
		return ExecResult{}, p.fail(op, r, err)
	}
	res, err := stream(ctx, hj, stdin)
	if err != nil {
		return res, p.fail(op, r, err)
	}
	select {
	case w := <-waitC:
		if w.Error != nil && w.Error.Message != "" {
			return res, p.fail(op, r, errors.New(w.Error.Message))
		}
		res.ExitCode = int(w.StatusCode)
		return res, nil
	case err := <-waitErr:
		return res, p.fail(op, r, err)
	}
}

// ensureHelperImage makes sure the helper image is on the engine, pulling it once if needed.
func (e *Engine) ensureHelperImage(ctx context.Context) error {
	e.mu.Lock()
	ready := e.helperReady
	e.mu.Unlock()
	if ready {
		return nil
	}
	_, err := e.api.ImageInspect(ctx, e.helperImage)
	if cerrdefs.IsNotFound(err) {
		e.log.InfoContext(ctx, "pulling helper image", "image", e.helperImage)
		var rc io.ReadCloser
		if rc, err = e.api.ImagePull(ctx, e.helperImage, image.PullOptions{}); err == nil {
			err = pullError(rc)
			rc.Close()
		}
		if err != nil {
			return fmt.Errorf("helper image %q is not on the Docker Engine and could not be pulled (%w): load or build an image with iptables, tc and ip and name it as the helper image", e.helperImage, e.wrap(err))
		}
	} else if err != nil {
		return fmt.Errorf("inspect helper image %q: %w", e.helperImage, e.wrap(err))
	}
	e.mu.Lock()
	e.helperReady = true
	e.mu.Unlock()
	return nil
}

// pullError reads an image pull's progress stream to its end and returns the error it reports.
func pullError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// stream feeds stdin (then closes it) and demultiplexes stdout and stderr until the end of hj,
// closing hj. When ctx ends first it closes the connection and returns ctx's error.
func stream(ctx context.Context, hj types.HijackedResponse, stdin []byte) (ExecResult, error) {
	defer hj.Close()
	stop := context.AfterFunc(ctx, hj.Close)
	defer stop()
	if stdin != nil {
		go func() {
			hj.Conn.Write(stdin)
			hj.CloseWrite()
		}()
	}
	var out, errb bytes.Buffer
	_, err := stdcopy.StdCopy(&out, &errb, hj.Reader)
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return ExecResult{Stdout: out.Bytes(), Stderr: errb.Bytes()}, err
}
