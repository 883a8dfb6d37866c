package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/app/clusterview"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/platform"
)

// This file holds `drill status` and what `drill monitor` shares with it:
// the flags that say which cluster to watch, and the rendering of a
// snapshot. The data gathering is package clusterview's.

// clusterFlags are the flags of the commands that watch a cluster.
type clusterFlags struct {
	scenario       string
	clusterFile    string
	patroni        []string
	members        []string
	composeProject string
	discover       bool
	dsnTemplate    string
	restPort       int
	pgPort         int
	timeout        time.Duration
	verbose        bool
}

// defaultDSNTemplate reaches a discovered member's PostgreSQL with the
// bundled test bed's superuser and database (examples/testbed/README.md).
const defaultDSNTemplate = "postgres://postgres:postgres@{host}:{port}/fileshare?sslmode=disable"

// noClusterHint follows the error when drill status or drill monitor finds
// no cluster to watch.
const noClusterHint = "Give --patroni URL or --member name=dsn, a --cluster or --scenario file, or start the compose project (e.g. examples/testbed/up)."

func (f *clusterFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.scenario, "scenario", "", "read the cluster block of this scenario `file`")
	fl.StringVar(&f.clusterFile, "cluster", "", "read a cluster block from this YAML `file` (a top-level cluster: mapping, or the block itself)")
	fl.StringArrayVar(&f.patroni, "patroni", nil, "a Patroni REST API base `URL` to ask for the cluster (repeatable)")
	fl.StringArrayVar(&f.members, "member", nil, "a member's PostgreSQL DSN, `name=dsn` (repeatable)")
	fl.StringVar(&f.composeProject, "compose-project", "", "docker compose `project` of the cluster (default: the cluster block's, else COMPOSE_PROJECT_NAME, else the only running project)")
	fl.BoolVar(&f.discover, "discover", true, "find members and their addresses from the compose project's published ports, and read their containers' state")
	fl.StringVar(&f.dsnTemplate, "dsn-template", defaultDSNTemplate, "DSN of a discovered member; {host} and {port} are its published PostgreSQL address (the default suits examples/testbed)")
	fl.IntVar(&f.restPort, "rest-port", 8008, "container `port` of Patroni's REST API, for discovery")
	fl.IntVar(&f.pgPort, "pg-port", 5432, "container `port` of PostgreSQL, for discovery")
	fl.DurationVar(&f.timeout, "call-timeout", clusterview.DefaultTimeout, "bound of each network call; a member that does not answer in time is OFFLINE")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log each failed call, on stderr")
}

// watched is a cluster ready to be observed.
type watched struct {
	viewer *clusterview.Viewer
	close  func()
}

// open resolves the cluster settings (scenario or cluster file, then flags,
// then compose discovery) into a Viewer. Usage problems exit 2; a cluster
// that cannot be found exits 3.
func (f *clusterFlags) open(ctx context.Context, logger *slog.Logger) (*watched, error) {
	if f.timeout <= 0 {
		return nil, exitWith(report.ExitInvalid, fmt.Errorf("--call-timeout must be positive, not %s", f.timeout))
	}
	cl, err := f.settings()
	if err != nil {
		return nil, err
	}
	w := &watched{close: func() {}}
	cfg := clusterview.Config{Timeout: f.timeout, Logger: logger}
	var pubs []clusterview.Published
	if cl.Platform != "" && cl.Platform != platform.Compose {
		pl, err := openPlatform(ctx, cl, logger)
		if err != nil {
			return nil, exitWith(report.ExitInvalid, err)
		}
		if cl, err = platform.Forwarded(ctx, pl, cl); err != nil {
			_ = pl.Close()
			return nil, exitWith(report.ExitError, fmt.Errorf("port-forwards: %w", err))
		}
		if s, ok := pl.(unitStater); ok {
			cfg.Containers = platformStates{s}
		}
		w.close = func() { _ = pl.Close() }
	} else {
		var containers *clusterview.Compose
		pubs, containers, err = f.discoverCompose(ctx, cl, logger)
		if err != nil {
			return nil, err
		}
		if containers != nil {
			cfg.Containers = containers
			w.close = func() { _ = containers.Close() }
		}
	}
	cfg.Patroni = cl.Patroni
	cfg.Members, err = targets(cl, pubs, f.dsnTemplate)
	if err != nil {
		w.close()
		return nil, exitWith(report.ExitInvalid, err)
	}
	w.viewer, err = clusterview.New(cfg)
	if err != nil {
		w.close()
		return nil, exitHint(report.ExitInvalid, err, noClusterHint)
	}
	return w, nil
}

// settings merges the cluster block (--scenario or --cluster) with the
// flags.
func (f *clusterFlags) settings() (*cluster.Cluster, error) {
	cl := &cluster.Cluster{}
	switch {
	case f.scenario != "" && f.clusterFile != "":
		return nil, exitWith(report.ExitInvalid, errors.New("--scenario and --cluster both give a cluster block: choose one"))
	case f.scenario != "":
		loaded, err := (&loadFlags{}).load([]string{f.scenario}, nil)
		if err != nil {
			return nil, err
		}
		if len(loaded) != 1 {
			return nil, exitWith(report.ExitInvalid, fmt.Errorf("--scenario %s: want one scenario file, found %d", f.scenario, len(loaded)))
		}
		cl = loaded[0].Cluster
	case f.clusterFile != "":
		var err error
		if cl, err = readClusterFile(f.clusterFile); err != nil {
			return nil, exitWith(report.ExitInvalid, err)
		}
	}
	cl.Patroni = append(slices.Clone(cl.Patroni), f.patroni...)
	for _, kv := range f.members {
		name, dsn, ok := strings.Cut(kv, "=")
		if !ok || name == "" || dsn == "" {
			return nil, exitWith(report.ExitInvalid, fmt.Errorf("--member %q: write name=dsn, e.g. postgres-master=postgres://postgres:postgres@127.0.0.1:15432/fileshare", kv))
		}
		if cl.Members == nil {
			cl.Members = map[string]cluster.MemberConfig{}
		}
		m := cl.Members[name]
		m.DSN = dsn
		cl.Members[name] = m
	}
	if f.composeProject != "" {
		cl.ComposeProject = f.composeProject
	}
	return cl, nil
}

// readClusterFile decodes a cluster block, strictly, from a YAML file that
// holds either `cluster: {...}` or the block's keys at the top.
func readClusterFile(path string) (*cluster.Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--cluster: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("--cluster %s: %w", path, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("--cluster %s: expected a mapping with the cluster block's keys (patroni, members, compose_project...)", path)
	}
	node := doc.Content[0]
	if len(node.Content) == 2 && node.Content[0].Value == "cluster" {
		node = node.Content[1]
	}
	cl := &cluster.Cluster{}
	dc := &dsl.DecodeContext{File: path, Where: "the cluster block", Vars: map[string]any{}}
	dc.DecodeStruct(node, cl)
	if len(dc.Errs) > 0 {
		return nil, fmt.Errorf("%v", dsl.ErrorList(dc.Errs))
	}
	cl.ResolvePaths(filepath.Dir(path))
	return cl, nil
}

// discoverCompose finds the compose project and the addresses its services
// publish. It returns no addresses unless the project was named (flag,
// cluster block, COMPOSE_PROJECT_NAME) or nothing else says where the
// cluster is: a cluster given by URL is not mixed with whatever project
// happens to run. A failure is an error only when nothing else is known.
func (f *clusterFlags) discoverCompose(ctx context.Context, cl *cluster.Cluster, logger *slog.Logger) ([]clusterview.Published, *clusterview.Compose, error) {
	if !f.discover {
		return nil, nil, nil
	}
	name := cmp.Or(cl.ComposeProject, os.Getenv("COMPOSE_PROJECT_NAME"))
	nothingElse := len(cl.Patroni) == 0 && !slices.ContainsFunc(mapValues(cl.Members), func(m cluster.MemberConfig) bool { return m.API != "" || m.DSN != "" })
	if name == "" && !nothingElse {
		return nil, nil, nil
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fail := func(err error) ([]clusterview.Published, *clusterview.Compose, error) {
		if nothingElse {
			return nil, nil, exitHint(report.ExitError, fmt.Errorf("drill: no cluster to watch: %w", err), noClusterHint)
		}
		logger.Warn("compose discovery failed; going on without container states", "err", err)
		return nil, nil, nil
	}
	comp, err := clusterview.OpenCompose(dctx, name, logger)
	if err != nil {
		return fail(err)
	}
	pubs, err := comp.Published(dctx, f.restPort, f.pgPort)
	if err != nil {
		comp.Close()
		return fail(err)
	}
	logger.Debug("compose discovery", "project", comp.Name(), "services", len(pubs))
	return pubs, comp, nil
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// targets turns the cluster block and the discovered addresses into the
// members to probe. A discovered service is the member the block maps to
// it, else the member of the same name (the compose convention); it fills
// in only the addresses the block leaves empty.
func targets(cl *cluster.Cluster, pubs []clusterview.Published, dsnTemplate string) ([]clusterview.Target, error) {
	if len(pubs) > 0 && (!strings.Contains(dsnTemplate, "{host}") || !strings.Contains(dsnTemplate, "{port}")) {
		return nil, fmt.Errorf("--dsn-template %q must contain {host} and {port}", dsnTemplate)
	}
	byName := map[string]*clusterview.Target{}
	var order []string
	add := func(name string) *clusterview.Target {
		if t, ok := byName[name]; ok {
			return t
		}
		byName[name] = &clusterview.Target{Name: name, Service: name}
		order = append(order, name)
		return byName[name]
	}
	for name, m := range cl.Members {
		t := add(name)
		t.Service = cmp.Or(m.Where(), name)
		t.API, t.DSN = m.API, m.DSN
	}
	for _, p := range pubs {
		name := p.Service
		for n, m := range cl.Members {
			if m.Service == p.Service {
				name = n
			}
		}
		t := add(name)
		t.API = cmp.Or(t.API, p.API)
		if t.DSN == "" && p.PG != "" {
			host, port, err := net.SplitHostPort(p.PG)
			if err != nil {
				return nil, fmt.Errorf("discovered address of %s: %w", p.Service, err)
			}
			if strings.Contains(host, ":") && strings.Contains(dsnTemplate, "://") {
				host = "[" + host + "]" // an IPv6 address in a URL
			}
			t.DSN = strings.NewReplacer("{host}", host, "{port}", port).Replace(dsnTemplate)
		}
	}
	slices.Sort(order)
	out := make([]clusterview.Target, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out, nil
}

func newStatusCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		cf      clusterFlags
		asJSON  bool
		noColor bool
	)
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster once: members, roles, lag, connections, Patroni settings",
		Long: `status takes one snapshot of the Patroni cluster and prints it: each member
ONLINE or OFFLINE (with the reason), or DIVERGED (answering, but ahead of the
leader's timeline and not streaming), its role, Patroni state, timeline, lag in
bytes and MB (from pg_stat_replication on the leader, else the replica's replay
position, else Patroni; the LAG FROM column says which), its client connections
(pg_stat_activity, drill's own included), the leader, the member count and the
Patroni settings that govern a failover (ttl, loop_wait, retry_timeout,
synchronous_mode).

Every network call is bounded by --call-timeout (1 s): a member that is down,
frozen (docker pause) or unreachable shows as OFFLINE after at most about twice
that, never a hang.

Where the cluster is: the cluster block of --scenario or --cluster, plus
--patroni and --member; with none of these, the running compose project's
published ports (Patroni 8008, PostgreSQL 5432), which finds the bundled test
bed (examples/testbed) with no flag at all.

Exit codes: 0 the snapshot was printed, 2 usage, 3 nothing of the cluster
answered.`,
		Example: `  drill status
  drill status --json | jq '.members[] | {name, online, lag}'
  drill status --scenario scenarios/leader-stop.yaml
  drill status --patroni http://127.0.0.1:18008 --member postgres-master=postgres://postgres:postgres@127.0.0.1:15432/fileshare`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			w, err := cf.open(ctx, newLogger(stderr, cf.verbose, "text", nil))
			if err != nil {
				return err
			}
			defer w.close()
			s := w.viewer.Snapshot(ctx)
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(s); err != nil {
					return exitWith(report.ExitError, fmt.Errorf("drill status: %w", err))
				}
			} else {
				st := newStyles(isTerminal(stdout) && !noColor && os.Getenv("NO_COLOR") == "")
				fmt.Fprint(stdout, formatSnapshot(s, st, w.viewer.Timeout()))
			}
			if !s.ClusterKnown && s.Online == 0 {
				return exitWith(report.ExitError, errors.New("drill status: no member of the cluster answered"))
			}
			return nil
		},
	}
	cf.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the snapshot as JSON")
	c.Flags().BoolVar(&noColor, "no-color", false, "no colour, also on a terminal (as NO_COLOR does)")
	return c
}

// styles colour the snapshot on a terminal; without colour every style
// renders plain text.
type styles struct {
	online, offline, leader, warn, dim, head lipgloss.Style
}

func newStyles(color bool) styles {
	r := lipgloss.NewRenderer(io.Discard)
	if color {
		r.SetColorProfile(termenv.ANSI)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return styles{
		online:  r.NewStyle().Foreground(lipgloss.Color("2")),
		offline: r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		leader:  r.NewStyle().Bold(true),
		warn:    r.NewStyle().Foreground(lipgloss.Color("3")).Bold(true),
		dim:     r.NewStyle().Faint(true),
		head:    r.NewStyle().Bold(true),
	}
}

// formatSnapshot renders a snapshot as text: a summary, the Patroni
// settings, a table of members, then the reasons and warnings. timeout is
// the per-call bound, shown so that "no answer" has a scale.
func formatSnapshot(s clusterview.Snapshot, st styles, timeout time.Duration) string {
	var b strings.Builder
	leader := "unknown (no member answered GET /cluster)"
	if s.ClusterKnown {
		leader = cmp.Or(s.Leader, "none")
	}
	fmt.Fprintf(&b, "Cluster %s   Leader %s   Members %s listed, %d online   Timeline %s\n",
		cmp.Or(s.Scope, "?"), st.leader.Render(leader), known(s.ClusterKnown, strconv.Itoa(s.Listed)), s.Online, optInt(s.Timeline))
	fmt.Fprintf(&b, "Patroni  %s\n", formatSettings(s.Config))
	fmt.Fprintf(&b, "Taken    %s in %d ms (each call bounded by %s)\n\n", s.Time.Format("2006-01-02 15:04:05"), s.Took.Milliseconds(), timeout)

	columns := []string{"MEMBER", "STATUS", "ROLE", "STATE", "TL", "LAG BYTES", "LAG MB", "LAG FROM", "CONNS"}
	t := table.New().
		Border(lipgloss.NormalBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).BorderColumn(false).
		Headers(columns...).
		StyleFunc(func(row, col int) lipgloss.Style {
			s := lipgloss.NewStyle()
			if col < len(columns)-1 {
				s = s.PaddingRight(2)
			}
			if col == 4 || col == 5 || col == 6 || col == 8 {
				s = s.Align(lipgloss.Right)
			}
			return s
		})
	staleTL := false
	for _, m := range s.Members {
		status := st.online.Render("● ONLINE")
		switch {
		case !m.Online:
			status = st.offline.Render("○ OFFLINE")
		case m.Diverged:
			status = st.warn.Render("◐ DIVERGED")
		}
		name := m.Name
		if s.ClusterKnown && m.Name == s.Leader {
			name = st.leader.Render(name)
		}
		lagBytes, lagMB, lagFrom := "-", "-", "-"
		if m.Lag != nil {
			lagBytes, lagMB, lagFrom = strconv.FormatInt(m.Lag.Bytes, 10), fmt.Sprintf("%.2f", m.Lag.MB), m.Lag.Source
		} else if m.Name != s.Leader && (m.InRecovery == nil || *m.InRecovery) {
			lagBytes, lagMB = "?", "?"
		}
		tl := optInt(m.Timeline)
		if m.Timeline != nil && !m.TimelineCurrent() {
			tl += "?"
			staleTL = true
		}
		t.Row(name, status, roleName(m.Role), cmp.Or(m.State, "-"), tl, lagBytes, lagMB, lagFrom, optInt(m.Connections))
	}
	b.WriteString(t.Render())
	b.WriteString("\n")

	var notes []string
	if len(s.Primaries) > 1 {
		notes = append(notes, st.warn.Render(fmt.Sprintf("SPLIT BRAIN: %d primaries: %s answer pg_is_in_recovery() = false", len(s.Primaries), strings.Join(s.Primaries, ", "))))
	}
	for _, m := range s.Members {
		if !m.Online {
			notes = append(notes, st.offline.Render(m.Name+" OFFLINE")+": "+m.Reason)
		}
	}
	for _, m := range s.Members {
		if m.Diverged {
			notes = append(notes, st.warn.Render(m.Name+" DIVERGED")+fmt.Sprintf(": on timeline %s, ahead of leader %s's, and not streaming (%s): its history forked; it needs pg_rewind or a reinit",
				optInt(m.Timeline), s.Leader, cmp.Or(m.Replication, "not in the leader's pg_stat_replication")))
		}
	}
	for _, key := range []string{"cluster", "config", "history"} {
		if r, ok := s.Reasons[key]; ok {
			notes = append(notes, st.warn.Render("GET /"+key)+": no member answered: "+r)
		}
	}
	for _, m := range s.Members {
		for _, n := range m.Notes {
			notes = append(notes, st.dim.Render(m.Name+": "+n))
		}
	}
	if staleTL {
		notes = append(notes, st.dim.Render("TL n?: not from WAL or the WAL receiver (the last restartpoint's, or GET /cluster's): may lag a promotion"))
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

// formatSettings renders Patroni's failover settings on one line.
func formatSettings(c *patroni.DynamicConfig) string {
	if c == nil {
		return "settings unknown (no member answered GET /config)"
	}
	sec := func(v *int) string {
		if v == nil {
			return "?"
		}
		return strconv.Itoa(*v) + " s"
	}
	onOff := func(v *patroni.SyncMode) string {
		if v == nil {
			return "off (unset)"
		}
		if *v == patroni.SyncQuorum && c.SynchronousNodeCount != nil {
			return fmt.Sprintf("quorum (synchronous_node_count %d)", *c.SynchronousNodeCount)
		}
		return string(*v)
	}
	line := fmt.Sprintf("ttl %s   loop_wait %s   retry_timeout %s   synchronous_mode %s", sec(c.TTL), sec(c.LoopWait), sec(c.RetryTimeout), onOff(c.SynchronousMode))
	if c.SynchronousModeStrict != nil && *c.SynchronousModeStrict {
		line += " (strict)"
	}
	if c.MaximumLagOnFailover != nil {
		line += "   maximum_lag_on_failover " + clusterview.FormatBytes(*c.MaximumLagOnFailover)
	}
	if c.Pause != nil && *c.Pause {
		line += "   PAUSED (maintenance mode: no automatic failover)"
	}
	return line
}

func roleName(r string) string {
	if r == "" {
		return "-"
	}
	return strings.ReplaceAll(r, "_", " ")
}

func optInt[T int | int64](v *T) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(int64(*v), 10)
}

func known(ok bool, s string) string {
	if !ok {
		return "?"
	}
	return s
}

// openPlatform opens the platform of a cluster block other than compose
// (hosts, kubernetes), whose units' states say why a member is OFFLINE.
func openPlatform(ctx context.Context, cl *cluster.Cluster, logger *slog.Logger) (platform.Platform, error) {
	d, err := platform.Lookup(cl.Platform)
	if err != nil {
		return nil, err
	}
	return d.Open(ctx, cl, logger)
}

// unitStater is a platform that describes a unit's state in a word or two
// (hosts: the units' state; kubernetes: the pod's) and names its units.
type unitStater interface {
	State(ctx context.Context, service string) (string, error)
	Noun() string
}

// platformStates reports a platform's unit as a member's container state.
type platformStates struct{ p unitStater }

func (s platformStates) ContainerState(ctx context.Context, service string) (string, error) {
	return s.p.State(ctx, service)
}

func (s platformStates) Noun() string { return s.p.Noun() }

var (
	_ clusterview.ContainerStater = platformStates{}
	_ clusterview.Nouner          = platformStates{}
)
