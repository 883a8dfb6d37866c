// Package pgtest runs throwaway PostgreSQL servers for tests and
// benchmarks: initdb, a primary, physical streaming replicas made with
// pg_basebackup -R, promote, freeze/thaw, stop. Servers listen on free
// ports of 127.0.0.1 and trust local connections. When the process runs as
// root they run as the postgres OS user (PostgreSQL refuses root).
//
// The binaries come from $DRILL_PG_BIN, else /usr/lib/postgresql/15/bin.
// If they are missing, BinDir fails with a message saying what to install:
// tests must fail, not skip, when PostgreSQL is absent.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBinDir is where Debian's postgresql-15 puts the server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// BinDir returns the directory holding initdb, postgres, pg_ctl and
// pg_basebackup, or an error that says how to get them.
func BinDir() (string, error) {
	dir := os.Getenv("DRILL_PG_BIN")
	if dir == "" {
		dir = DefaultBinDir
	}
	for _, b := range []string{"initdb", "postgres", "pg_ctl", "pg_basebackup"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("PostgreSQL server binaries not found: %s is missing; install postgresql-15 (apt-get install postgresql-15) or set DRILL_PG_BIN to the directory holding initdb: %w",
				filepath.Join(dir, b), err)
		}
	}
	return dir, nil
}

// Cluster is a directory of servers that belong together (a primary and its
// replicas). Close stops them all and removes the directory.
type Cluster struct {
	Root string
	bin  string
	cred *syscall.Credential

	mu      sync.Mutex
	servers []*Server
}

// Settings are postgresql.conf parameters.
type Settings map[string]string

// FastSettings skip fsync: a server crash (pg_ctl stop -m immediate) keeps
// every commit, an OS crash would not. Fine for tests, wrong for benchmarks.
var FastSettings = Settings{"fsync": "off", "full_page_writes": "off"}

// NewCluster creates an empty cluster directory under the system temp dir,
// owned by the user the servers will run as.
func NewCluster() (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "drill-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Root: root, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(root)
			return nil, fmt.Errorf("running as root and no postgres OS user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := c.own(root); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) own(path string) error {
	if c.cred == nil {
		return nil
	}
	return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
}

// command runs a PostgreSQL tool as the servers' user and returns its output.
func (c *Cluster) command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Close stops every server immediately and removes the cluster directory.
func (c *Cluster) Close() error {
	c.mu.Lock()
	servers := append([]*Server(nil), c.servers...)
	c.mu.Unlock()
	var errs []error
	for _, s := range servers {
		if err := s.Stop("immediate"); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, os.RemoveAll(c.Root))
	return errors.Join(errs...)
}

// Server is one PostgreSQL server of a cluster.
type Server struct {
	Name string
	Dir  string // data directory
	Port int
	c    *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// DSN returns a connection string for database db (default "postgres").
func (s *Server) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.Port, db)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) newServer(name string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Name: name, Dir: filepath.Join(c.Root, name), Port: port, c: c}
	c.mu.Lock()
	c.servers = append(c.servers, s)
	c.mu.Unlock()
	return s, nil
}

// conf is what every server of a cluster needs on top of settings.
func (s *Server) conf(settings Settings) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n# pgtest\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n", s.Port, s.Dir)
	fmt.Fprintf(&b, "cluster_name = '%s'\nmax_connections = 100\nmax_wal_senders = 10\nwal_level = replica\nhot_standby = on\n", s.Name)
	b.WriteString("logging_collector = off\nshared_buffers = 64MB\n")
	for k, v := range settings {
		fmt.Fprintf(&b, "%s = '%s'\n", k, v)
	}
	return b.String()
}

func (s *Server) appendConf(file, text string) error {
	f, err := os.OpenFile(filepath.Join(s.Dir, file), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// InitPrimary runs initdb for a new server and starts it.
func (c *Cluster) InitPrimary(ctx context.Context, name string, settings Settings) (*Server, error) {
	s, err := c.newServer(name)
	if err != nil {
		return nil, err
	}
	if _, err := c.command(ctx, "initdb", "-D", s.Dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	if err := s.appendConf("postgresql.conf", s.conf(settings)); err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Replica clones s with pg_basebackup -R into a new streaming replica and
// starts it. Its application_name on s is its name.
func (s *Server) Replica(ctx context.Context, name string, settings Settings) (*Server, error) {
	r, err := s.c.newServer(name)
	if err != nil {
		return nil, err
	}
	if _, err := s.c.command(ctx, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres",
		"-D", r.Dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		return nil, err
	}
	if err := r.appendConf("postgresql.auto.conf", r.conf(settings)); err != nil {
		return nil, err
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("%s already running", s.Name)
	}
	logf, err := os.OpenFile(filepath.Join(s.c.Root, s.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.c.bin, "postgres"), "-D", s.Dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: the server dies with the test binary, even after a panic.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.c.cred, Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	return s.waitReady(ctx, exited)
}

func (s *Server) waitReady(ctx context.Context, exited chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, s.DSN(""))
		ccancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited during startup:\n%s", s.Name, s.LogTail(30))
		case <-ctx.Done():
			return fmt.Errorf("%s not accepting connections: %w\n%s", s.Name, err, s.LogTail(30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the server with pg_ctl stop -m mode ("fast", "immediate",
// "smart") and waits for it to exit. Stopping a stopped server is a no-op.
func (s *Server) Stop(mode string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := s.c.command(ctx, "pg_ctl", "stop", "-D", s.Dir, "-m", mode, "-w", "-t", "30")
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
	if err != nil {
		return fmt.Errorf("stop %s: %w", s.Name, err)
	}
	return nil
}

// Promote ends recovery on a replica (pg_ctl promote -w).
func (s *Server) Promote(ctx context.Context) error {
	_, err := s.c.command(ctx, "pg_ctl", "promote", "-D", s.Dir, "-w", "-t", "30")
	return err
}

// Freeze stops (SIGSTOP) the server and all its processes, as docker pause
// does: connections stay open and nothing answers. Thaw undoes it.
func (s *Server) Freeze() error { return s.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() error { return s.signalAll(syscall.SIGCONT) }

// signalAll signals the postmaster and its children. Children are not in
// the postmaster's process group (each backend calls setsid), so they are
// found through /proc.
func (s *Server) signalAll(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return fmt.Errorf("%s is not running", s.Name)
	}
	pm := s.cmd.Process.Pid
	if sig == syscall.SIGSTOP { // stop the postmaster first: it forks no more
		if err := syscall.Kill(pm, sig); err != nil {
			return err
		}
	}
	for _, pid := range children(pm) {
		_ = syscall.Kill(pid, sig) // a child may just have exited
	}
	if sig != syscall.SIGSTOP {
		return syscall.Kill(pm, sig)
	}
	return nil
}

// children returns the PIDs whose parent is ppid.
func children(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// LogTail returns the last n lines of the server's log.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.c.Root, s.Name+".log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
