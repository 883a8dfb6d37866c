package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process has to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// proc is one child process whose stdout and stderr go to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	from int64         // where this run's part of log starts
	done chan struct{} // closed once the process has exited
	err  error         // Wait's result; read only after done is closed
}

// startProc starts bin with args, appending its output to logPath after a
// header line. The process is not tied to any context: only stop ends it (or,
// on Linux, the death of the process that started it).
func startProc(name, bin string, args []string, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %s log: %w", name, err)
	}
	defer f.Close() // the child has its own descriptor
	from, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %s log: %w", name, err)
	}
	fmt.Fprintf(f, "==== kubetest %s %s: %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), name, bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = childEnv()
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kubetest: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, from: from, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// childEnv is this process's environment without etcd's ETCD_* variables,
// which would otherwise configure (or conflict with) the test's etcd.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an exit during startup, with the end of the log.
func (p *proc) exitError() error {
	return fmt.Errorf("kubetest: %s exited during startup (%v); end of %s:\n%s", p.name, p.err, p.log, tail(p.log, 40))
}

// stop sends SIGTERM, then SIGKILL after stopGrace, and returns once the
// process has exited. Stopping an exited process does nothing.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// portInUse reports whether the process's log says a port was taken (by
// another process between freePorts and the bind).
func (p *proc) portInUse() bool {
	b, _ := os.ReadFile(p.log)
	return int64(len(b)) > p.from && bytes.Contains(b[p.from:], []byte("address already in use"))
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("kubetest: free port: %w", err)
		}
		defer ln.Close() // held until all n are chosen, so that they differ
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tail returns the last n lines of the file at path (or why it can't).
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const maxTail = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		if _, err := f.Seek(-maxTail, io.SeekEnd); err != nil {
			return err.Error()
		}
	}
	b, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
