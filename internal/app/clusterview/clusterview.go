// Package clusterview takes snapshots of a Patroni cluster for `drill status`
// and `drill monitor`: every member's liveness, role, state, timeline,
// replication lag and connection count, the leader, and the Patroni settings
// that govern a failover. It also turns two snapshots into the events a
// watcher cares about (Diff, Tracker).
//
// A snapshot never fails and never stalls: every network call runs under
// Config.Timeout (1 s by default), calls to different members run at the same
// time, and a member that is down, frozen or unreachable is reported OFFLINE
// with the reason, in at most about twice the timeout.
//
// Truth lives in SQL: where a member's DSN is known, its recovery state,
// timeline, replay position and connections are read from PostgreSQL (through
// package pg), and Patroni's own view (GET /cluster, stale by up to loop_wait)
// is only the fallback. Every value says where it came from.
package clusterview

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/client/pg"
)

// DefaultTimeout bounds each network call of a snapshot.
const DefaultTimeout = time.Second

// MiB is the unit of the MB figures (a mebibyte, as drill's lag_mb metric).
const MiB = 1 << 20

// Where a replica's lag was measured, from the most to the least direct.
const (
	// LagFromReplication: pg_stat_replication on the leader
	// (pg_current_wal_lsn() minus the standby's replay_lsn).
	LagFromReplication = "pg_stat_replication"
	// LagFromReplay: the leader's pg_current_wal_lsn() minus the replica's
	// own pg_last_wal_replay_lsn(), both read by drill a moment apart.
	LagFromReplay = "replay_lsn"
	// LagFromPatroni: the lag GET /cluster reports (stale by up to
	// loop_wait, and computed from the received, not the replayed, position).
	LagFromPatroni = "patroni"
)

// Where a member's timeline came from, from the most to the least current:
// sql:wal (a primary's WAL file), sql:wal_receiver (the timeline a standby
// streams), patroni (the member's own GET /patroni), sql:checkpoint (a
// standby without a WAL receiver: its last restartpoint's, which can lag a
// promotion by a long time), patroni_cluster (GET /cluster, stale by up to
// loop_wait).
const (
	TimelineFromPatroni        = "patroni"
	TimelineFromPatroniCluster = "patroni_cluster"
	timelineFromSQLPrefix      = "sql:"
)

// Target is one member as drill is told to reach it. Any of API, DSN and
// Service may be empty; the member is then judged by what remains.
type Target struct {
	Name    string // Patroni member name
	Service string // compose service running it (for its container state)
	API     string // Patroni REST base URL, e.g. http://127.0.0.1:18008
	DSN     string // PostgreSQL DSN reaching this member directly; never shown
}

// ContainerStater reports the state of what runs a member: a compose
// service's container ("running", "paused", "exited (137)"), or a host's
// units ("running", "frozen", "stopped (inactive)", "unreachable: ...").
// "running" means nothing to report.
type ContainerStater interface {
	ContainerState(ctx context.Context, service string) (string, error)
}

// Nouner is a ContainerStater that names what it reports on, for the
// OFFLINE reasons ("host frozen"); without it the noun is "container".
type Nouner interface {
	Noun() string
}

// nounOf is what c reports on.
func nounOf(c ContainerStater) string {
	if n, ok := c.(Nouner); ok {
		return n.Noun()
	}
	return "container"
}

// Config says what to watch and how patiently.
type Config struct {
	// Members to probe directly, by name.
	Members []Target
	// Patroni holds more REST base URLs, not tied to a member, to ask for
	// GET /cluster, /config and /history.
	Patroni []string
	// Containers, when set, is asked for each member's container state
	// (it names why a member is OFFLINE: paused, exited).
	Containers ContainerStater
	// Timeout bounds each network call (default DefaultTimeout).
	Timeout time.Duration
	// HTTPClient sends the REST requests (default: one with its own
	// transport, no proxy).
	HTTPClient *http.Client
	// Logger receives a debug line per failed call (default slog.Default()).
	Logger *slog.Logger
}

// Viewer takes snapshots of one cluster. It is safe for concurrent use.
type Viewer struct {
	cfg     Config
	targets []Target
	probe   *patroni.Client // for per-member GET /patroni
}

// New checks cfg and returns a Viewer. At least one member or Patroni URL
// is required.
func New(cfg Config) (*Viewer, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}}
	}
	seen := map[string]bool{}
	var targets []Target
	for _, t := range cfg.Members {
		if t.Name == "" {
			return nil, errors.New("clusterview: a member without a name")
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("clusterview: member %q given twice", t.Name)
		}
		seen[t.Name] = true
		targets = append(targets, t)
	}
	slices.SortFunc(targets, func(a, b Target) int { return cmp.Compare(a.Name, b.Name) })
	// A URL that is a member's API is probed as that member, not twice.
	var extra []string
	for _, u := range cfg.Patroni {
		u = strings.TrimSuffix(u, "/")
		if !slices.Contains(extra, u) && !slices.ContainsFunc(targets, func(t Target) bool { return strings.TrimSuffix(t.API, "/") == u }) {
			extra = append(extra, u)
		}
	}
	cfg.Patroni = extra
	urls := restURLs(targets, cfg.Patroni)
	if len(urls) == 0 && !hasDSN(targets) {
		return nil, errors.New("clusterview: nothing to watch: give a Patroni REST URL or a member's API or DSN")
	}
	v := &Viewer{cfg: cfg, targets: targets}
	if len(urls) > 0 {
		probe, err := v.client(urls)
		if err != nil {
			return nil, fmt.Errorf("clusterview: %w", err)
		}
		v.probe = probe
	}
	return v, nil
}

func (v *Viewer) client(urls []string) (*patroni.Client, error) {
	return patroni.New(urls, patroni.Options{Timeout: v.cfg.Timeout, HTTPClient: v.cfg.HTTPClient, Logger: v.cfg.Logger, MemberURLs: memberURLs(v.targets)})
}

// Timeout is the bound of each network call.
func (v *Viewer) Timeout() time.Duration { return v.cfg.Timeout }

func restURLs(targets []Target, extra []string) []string {
	var urls []string
	for _, t := range targets {
		if t.API != "" && !slices.Contains(urls, t.API) {
			urls = append(urls, t.API)
		}
	}
	for _, u := range extra {
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	return urls
}

func memberURLs(targets []Target) map[string]string {
	m := map[string]string{}
	for _, t := range targets {
		if t.API != "" {
			m[t.Name] = t.API
		}
	}
	return m
}

func hasDSN(targets []Target) bool {
	return slices.ContainsFunc(targets, func(t Target) bool { return t.DSN != "" })
}

// Snapshot is the cluster at one moment. Values that could not be measured
// are absent (nil or empty), never zero.
type Snapshot struct {
	Time time.Time     `json:"time"`
	Took time.Duration `json:"-"`
	// TookMS is Took in milliseconds, for JSON.
	TookMS int64 `json:"took_ms"`
	// Scope is the Patroni cluster's name; "" when no member answered GET /patroni.
	Scope string `json:"scope,omitempty"`
	// ClusterKnown is true when a member answered GET /cluster: only then
	// are Leader and Listed known.
	ClusterKnown bool `json:"cluster_known"`
	// Leader holds Patroni's leader key ("" when none or not known).
	Leader string `json:"leader,omitempty"`
	// Listed is the number of members GET /cluster lists.
	Listed int `json:"members_listed"`
	// Online is the number of members reported ONLINE.
	Online int `json:"members_online"`
	// Timeline is the cluster's timeline: the highest any member is on, by
	// a source that follows a promotion at once (a primary's WAL, a
	// standby's WAL receiver, Patroni's view of a primary); nil when no
	// member has one.
	Timeline *int64 `json:"timeline,omitempty"`
	// Primaries are the members whose PostgreSQL answered
	// pg_is_in_recovery() = false. Two or more is a split brain.
	Primaries []string `json:"primaries"`
	// Config is Patroni's dynamic configuration (ttl, loop_wait,
	// retry_timeout, synchronous_mode...); nil when unknown.
	Config *patroni.DynamicConfig `json:"config,omitempty"`
	// LastPromotion is the newest promotion in Patroni's GET /history.
	LastPromotion *Promotion   `json:"last_promotion,omitempty"`
	Members       []MemberView `json:"members"`
	// Errors holds cluster-wide failures by call: "cluster", "config",
	// "history"; Reasons the same, each in a few words (see Short).
	Errors  map[string]string `json:"errors,omitempty"`
	Reasons map[string]string `json:"reasons,omitempty"`
}

// Promotion is one line of Patroni's history: who was promoted, when, to
// which timeline.
type Promotion struct {
	Time     *time.Time `json:"time,omitempty"`
	Leader   string     `json:"leader,omitempty"`
	Timeline int64      `json:"timeline"`
}

// Lag is a replica's replication lag behind the leader.
type Lag struct {
	Bytes int64   `json:"bytes"`
	MB    float64 `json:"mb"`
	// Source is LagFromReplication, LagFromReplay or LagFromPatroni.
	Source string `json:"source"`
}

func newLag(bytes int64, source string) *Lag {
	return &Lag{Bytes: bytes, MB: float64(bytes) / MiB, Source: source}
}

// MemberView is one member in a snapshot.
type MemberView struct {
	Name string `json:"name"`
	// Online is true when every direct probe drill has for the member (its
	// PostgreSQL through the DSN, its Patroni REST API) answered; with no
	// direct probe, when GET /cluster lists it as running.
	Online bool `json:"online"`
	// Reason says why the member is OFFLINE ("" when online).
	Reason string `json:"reason,omitempty"`
	// Unresponsive is set on an OFFLINE member whose failed probes all ran
	// out of time (nothing refused them, its container runs or is not
	// known): frozen, cut off, or only slow on a loaded machine.
	Unresponsive bool `json:"unresponsive,omitempty"`
	// Listed is true when GET /cluster lists the member.
	Listed bool `json:"listed"`
	// Role is the role GET /cluster gives: leader, replica, sync_standby,
	// standby_leader ("" when not listed).
	Role string `json:"role,omitempty"`
	// State is Patroni's state for the member (running, stopped, starting,
	// creating replica...): its own GET /patroni when it answered, else
	// GET /cluster.
	State string `json:"state,omitempty"`
	// InRecovery is pg_is_in_recovery(); nil when SQL did not answer.
	InRecovery     *bool  `json:"in_recovery,omitempty"`
	Timeline       *int64 `json:"timeline,omitempty"`
	TimelineSource string `json:"timeline_source,omitempty"`
	// Lag is nil for the leader and when it could not be measured.
	Lag *Lag `json:"lag,omitempty"`
	// Replication is this replica's pg_stat_replication state and sync
	// state on the leader (e.g. "streaming", "async"), when seen.
	Replication string `json:"replication,omitempty"`
	SyncState   string `json:"sync_state,omitempty"`
	// Diverged is set on a member other than the leader that is on a higher
	// timeline than the leader and not streaming from it: its history
	// forked (a former leader that went on alone); it needs a rewind or a
	// reinit. Its processes may well answer: it stays ONLINE.
	Diverged bool `json:"diverged,omitempty"`
	// Connections counts client backends in pg_stat_activity (drill's own
	// probe included); nil when SQL did not answer.
	Connections       *int   `json:"connections,omitempty"`
	ActiveConnections *int   `json:"active_connections,omitempty"`
	MaxConnections    *int   `json:"max_connections,omitempty"`
	ServerVersion     string `json:"server_version,omitempty"`
	// Container is the compose container's state, asked only when a probe
	// failed (to say why).
	Container string `json:"container,omitempty"`
	API       string `json:"api,omitempty"`
	// Probed says which direct probes drill has for the member: "rest", "sql".
	Probed []string `json:"probed"`
	// Errors holds the full error of each failed probe: "rest", "sql",
	// "lag", "container".
	Errors map[string]string `json:"errors,omitempty"`
	// Notes are remarks that do not make the member OFFLINE.
	Notes []string `json:"notes,omitempty"`
}

// Member returns the member called name.
func (s Snapshot) Member(name string) (MemberView, bool) {
	for _, m := range s.Members {
		if m.Name == name {
			return m, true
		}
	}
	return MemberView{}, false
}

// probeResult is what phase one learnt about one target.
type probeResult struct {
	rest      *patroni.Status
	restErr   error
	status    *pg.ServerStatus
	pos       *pg.Position
	sqlErr    error
	container string
	noun      string // what container's state is of: "container", "host"
	contErr   error
}

// Snapshot observes the cluster once. Each network call to one member is
// bounded by the configured timeout; a cluster-wide REST call asks the
// members in turn, each under its own bound, those that answered phase one
// first. So it returns within about twice the timeout when the members that
// answer /patroni also answer the cluster-wide calls, and within the timeout
// times (1 + the number of REST URLs) whatever they do (a little more when
// ctx is cancelled mid-call, never less than what ctx allows): members that
// do not answer are reported OFFLINE with the reason.
func (v *Viewer) Snapshot(ctx context.Context) Snapshot {
	start := time.Now()
	s := Snapshot{Time: start, Errors: map[string]string{}, Reasons: map[string]string{}}

	// Phase one: every member's own REST API, PostgreSQL and container, and
	// the REST URLs that belong to no member, all at once.
	results := make([]probeResult, len(v.targets))
	extraOK := make([]bool, len(v.cfg.Patroni))
	var extraNames []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, t := range v.targets {
		wg.Go(func() { results[i] = v.probeTarget(ctx, t) })
	}
	for i, u := range v.cfg.Patroni {
		wg.Go(func() {
			st, err := v.probe.Member(ctx, u)
			if err != nil {
				v.cfg.Logger.DebugContext(ctx, "patroni URL did not answer", "url", u, "err", err)
				return
			}
			extraOK[i] = true
			mu.Lock()
			defer mu.Unlock()
			if st.Patroni.Name != "" {
				extraNames = append(extraNames, st.Patroni.Name)
			}
			if s.Scope == "" {
				s.Scope = st.Patroni.Scope
			}
		})
	}
	wg.Wait()
	for _, r := range results {
		if r.rest != nil && s.Scope == "" {
			s.Scope = r.rest.Patroni.Scope
		}
	}

	// Phase two: the cluster-wide REST calls, asked first of the members
	// that just answered, and the leader's pg_stat_replication.
	var (
		cl      *patroni.Cluster
		conf    *patroni.DynamicConfig
		hist    []patroni.HistoryEntry
		lag     *pg.LagReport
		lagFrom string
		lagErr  error
	)
	sqlLeader := v.sqlLeaderGuess(results)
	if c := v.orderedClient(results, extraOK); c != nil {
		calls := []struct {
			name string
			fn   func(context.Context) error
		}{
			{"cluster", func(ctx context.Context) error {
				r, err := c.Cluster(ctx)
				if err == nil {
					cl = &r
				}
				return err
			}},
			{"config", func(ctx context.Context) error {
				r, err := c.Config(ctx)
				if err == nil {
					conf = &r
				}
				return err
			}},
			{"history", func(ctx context.Context) error {
				r, err := c.History(ctx)
				hist = r
				return err
			}},
		}
		// No bound over a whole call: the client bounds each member it
		// asks, so a member that hangs costs one timeout and the call goes
		// on to the next, which answers in time.
		for _, call := range calls {
			wg.Go(func() {
				if err := call.fn(ctx); err != nil {
					mu.Lock()
					s.Errors[call.name], s.Reasons[call.name] = err.Error(), Short(err, v.cfg.Timeout)
					mu.Unlock()
				}
			})
		}
	}
	// The container state of each member a probe failed on, to say why.
	for i, t := range v.targets {
		if v.cfg.Containers == nil || t.Service == "" || (results[i].restErr == nil && results[i].sqlErr == nil) {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
			defer cancel()
			results[i].container, results[i].contErr = v.cfg.Containers.ContainerState(cctx, t.Service)
			results[i].noun = nounOf(v.cfg.Containers)
			if results[i].contErr != nil {
				v.cfg.Logger.DebugContext(ctx, "container state unknown", "member", t.Name, "err", results[i].contErr)
			}
		})
	}
	if sqlLeader >= 0 {
		wg.Go(func() {
			t := v.targets[sqlLeader]
			lctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
			defer cancel()
			r, err := pg.Lag(lctx, pg.Node{Name: t.Name, DSN: t.DSN})
			lagFrom, lagErr = t.Name, err
			if err == nil {
				lag = &r
			}
		})
	}
	wg.Wait()

	v.assemble(&s, results, cl, lag, lagFrom, lagErr, extraNames)
	s.Config = conf
	if last, ok := patroni.LastPromotion(hist); ok {
		s.LastPromotion = &Promotion{Time: last.Time, Leader: last.NewLeader, Timeline: last.NewTimeline()}
	}
	if len(s.Errors) == 0 {
		s.Errors, s.Reasons = nil, nil
	}
	s.Took = time.Since(start)
	s.TookMS = s.Took.Milliseconds()
	return s
}

// probeTarget runs phase one for one member: REST and SQL concurrently,
// each under the timeout.
func (v *Viewer) probeTarget(ctx context.Context, t Target) probeResult {
	var r probeResult
	var wg sync.WaitGroup
	if t.API != "" {
		wg.Go(func() {
			st, err := v.probe.Member(ctx, t.API)
			if err != nil {
				r.restErr = err
				return
			}
			r.rest = &st
		})
	}
	if t.DSN != "" {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
			defer cancel()
			node := pg.Node{Name: t.Name, DSN: t.DSN}
			st, err := pg.Status(sctx, node)
			if err != nil {
				r.sqlErr = err
				return
			}
			r.status = &st
			pos, err := pg.NodePosition(sctx, node)
			if err != nil {
				r.sqlErr = err
				return
			}
			r.pos = &pos
		})
	}
	wg.Wait()
	for what, err := range map[string]error{"rest": r.restErr, "sql": r.sqlErr} {
		if err != nil {
			v.cfg.Logger.DebugContext(ctx, "probe failed", "member", t.Name, "probe", what, "err", err)
		}
	}
	return r
}

// sqlLeaderGuess returns the index of the target whose pg_stat_replication
// to read: the only SQL primary, or, with several, the one whose Patroni
// says it is the primary. -1 when there is none.
func (v *Viewer) sqlLeaderGuess(results []probeResult) int {
	var primaries []int
	for i, r := range results {
		if r.status != nil && !r.status.InRecovery {
			primaries = append(primaries, i)
		}
	}
	if len(primaries) == 1 {
		return primaries[0]
	}
	for _, i := range primaries {
		if r := results[i]; r.rest != nil && r.rest.IsPrimary() && !r.rest.ClusterUnlocked {
			return i
		}
	}
	return -1
}

// orderedClient returns a client whose URLs start with the members that
// answered phase one, so that a frozen member costs no second timeout.
func (v *Viewer) orderedClient(results []probeResult, extraOK []bool) *patroni.Client {
	var good, bad []string
	for i, t := range v.targets {
		if t.API == "" {
			continue
		}
		if results[i].rest != nil {
			good = append(good, t.API)
		} else {
			bad = append(bad, t.API)
		}
	}
	for i, u := range v.cfg.Patroni {
		if extraOK[i] {
			good = append(good, u)
		} else {
			bad = append(bad, u)
		}
	}
	urls := restURLs(nil, append(good, bad...))
	if len(urls) == 0 {
		return nil
	}
	c, err := v.client(urls)
	if err != nil { // the same URLs were accepted by New
		v.cfg.Logger.Error("clusterview: patroni client", "err", err)
		return nil
	}
	return c
}
