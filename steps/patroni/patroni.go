package patroni

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/client/pg"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

// The patroni.* kinds: read the cluster, wait for a leader or for health,
// and act through Patroni's REST API.

// metrics shared by the kinds that read the cluster.
var (
	leaderMetric   = metric.Spec{Name: "leader", Type: metric.String, Doc: "the leader's member name"}
	timelineMetric = metric.Spec{Name: "timeline", Type: metric.Number, Doc: "the leader's timeline"}
	onlineMetric   = metric.Spec{Name: "members_online", Type: metric.Number, Doc: "members whose PostgreSQL is running, as Patroni reports them"}
	faultAtMetric  = metric.Spec{Name: "fault_at", Type: metric.Time, Doc: "when the action was applied"}
	leaderBefore   = metric.Spec{Name: "leader_before", Type: metric.String, Doc: "the leader just before the action"}
	ttlMetric      = metric.Spec{Name: "ttl", Type: metric.Number, Doc: "leader key time to live, seconds"}
	loopWaitMetric = metric.Spec{Name: "loop_wait", Type: metric.Number, Doc: "seconds between Patroni's loops"}
	retryMetric    = metric.Spec{Name: "retry_timeout", Type: metric.Number, Doc: "seconds Patroni retries the DCS and PostgreSQL"}
)

func init() {
	steps.Register(steps.Kind{
		Name:    "patroni.status",
		Summary: "read the cluster's members, roles, states and timelines",
		Doc: "Reads GET /cluster from the first Patroni member that answers. replicas_streaming comes from " +
			"pg_stat_replication on the leader when the cluster block gives the leader's DSN.",
		Example: "kind: patroni.status",
		New:     func() steps.Step { return &PatroniStatus{} },
		Timeout: 15 * time.Second,
		Metrics: []metric.Spec{
			leaderMetric, timelineMetric, onlineMetric,
			{Name: "members", Type: metric.StringList, Doc: "member names, sorted"},
			{Name: "member_count", Type: metric.Number, Doc: "how many members Patroni lists"},
			{Name: "roles", Type: metric.StringMap, Doc: "member name to role (leader, replica, sync_standby)"},
			{Name: "states", Type: metric.StringMap, Doc: "member name to state (running, stopped, ...)"},
			{Name: "timelines", Type: metric.StringMap, Doc: "member name to timeline (as text; absent while PostgreSQL is down)"},
			{Name: "replicas_streaming", Type: metric.Number, Doc: "standbys streaming from the leader, from pg_stat_replication"},
			{Name: "replica", Type: metric.String, Doc: "one running replica's name (the first by name), for steps that need a candidate: ${id.replica}"},
			{Name: "paused", Type: metric.Bool, Doc: "whether the cluster is in maintenance mode"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "patroni.wait_leader",
		Summary: "wait until the cluster has a leader, and measure the recovery time",
		Doc: "Asks every member's GET /primary at once each interval (when the cluster block gives the members' api URLs; " +
			"else GET /cluster of every Patroni URL) until a member leads. With changed, the leader must differ " +
			"from leader_before of the last fault step; with member, it must be that member. rto_s runs from the " +
			"fault's fault_at (the latest one, or the step named by fault) to the first poll that saw the leader. " +
			"patroni_rto_s is the same interval ending at Patroni's own promotion record (GET /history), when it has one. " +
			"The phases of rto_s, each dated from its own source: while it polls, the step also reads GET /cluster of every " +
			"member (Patroni builds it from the DCS: role leader is the leader key's holder, in Patroni 3 and 4) and dates " +
			"leader_key_gone_at, the first poll at which no member or another member than leader_before holds the key; " +
			"promoted_at is PostgreSQL's (the mtime of the new timeline's history file, which Patroni reports in /history); " +
			"leader_seen_at is when the new leader's Patroni answered 200 on GET /primary, which it does as soon as it " +
			"holds the key, not when PostgreSQL is promoted; pg_ready_at is the first SQL poll of the new leader " +
			"(pg_is_in_recovery() false). bound_s is what the live configuration (GET /config when the step starts) " +
			"allows for an unclean loss: ttl + loop_wait. Each number is recorded only when both its ends were measured.",
		Example: "kind: patroni.wait_leader\nchanged: true\ntimeout: 90s",
		New:     func() steps.Step { return &WaitLeader{Interval: 100 * time.Millisecond} },
		Timeout: 2 * time.Minute,
		Metrics: []metric.Spec{
			leaderMetric, timelineMetric,
			{Name: "rto_s", Type: metric.Number, Doc: "seconds from the fault to the first observation of the (new) leader, asking every member at once", Resolution: "the poll interval (100 ms by default) plus one REST call"},
			{Name: "leader_seen_at", Type: metric.Time, Doc: "when the leader was first observed"},
			{Name: "promoted_at", Type: metric.Time, Doc: "the promotion time Patroni recorded in /history"},
			{Name: "patroni_rto_s", Type: metric.Number, Doc: "seconds from the fault to Patroni's promotion record", Resolution: "Patroni's clock (1 ms)"},
			{Name: "leader_key_gone_at", Type: metric.Time, Doc: "the first poll at which the DCS, read through GET /cluster, showed leader_before no longer holding the leader key (expired, released, or taken by another member); not recorded when the new leader was seen first", Resolution: "the poll interval plus one REST call"},
			{Name: "key_gone_s", Type: metric.Number, Doc: "seconds from the fault to leader_key_gone_at: the old leader's key expiring (kill, pause: at most ttl after its last renewal) or being released (stop, switchover)", Resolution: "the poll interval plus one REST call"},
			{Name: "election_s", Type: metric.Number, Doc: "seconds from leader_key_gone_at to promoted_at: a replica noticing, asking the other members (2 s at most each, in parallel: an old leader that does not answer costs the 2 s), taking the key, and PostgreSQL switching timeline; not recorded when the poll that saw the key gone answered after the promotion (an election shorter than the poll)"},
			{Name: "pg_ready_at", Type: metric.Time, Doc: "when the new leader's PostgreSQL first answered pg_is_in_recovery() = false, polled from leader_seen_at on; needs the leader's DSN in the cluster block, and a poll that found it still in recovery or not answering, or that began before promoted_at", Resolution: "the poll interval plus one connection"},
			{Name: "ready_s", Type: metric.Number, Doc: "seconds from promoted_at to pg_ready_at: PostgreSQL ending recovery until it takes writes (as seen by a new connection)", Resolution: "the poll interval plus one connection"},
			{Name: "bound_s", Type: metric.Number, Doc: "ttl + loop_wait of the live configuration: after an unclean loss of the leader, the time by which its key has expired (at most ttl after its last renewal, made at or before the fault; etcd adds up to 0.5 s) and a replica has begun the election (replicas watch the key, and loop every loop_wait). The election then asks the other members' REST APIs, in parallel with a 2 s timeout that Patroni 3 and 4 hard-code (a frozen old leader costs all of it), and promotes: a check allows for that, e.g. rto_s <= bound_s + 3"},
			ttlMetric, loopWaitMetric, retryMetric,
		},
	})
	steps.Register(steps.Kind{
		Name:    "patroni.wait_healthy",
		Summary: "wait until every member runs, one leads and every replica has caught up (checked by SQL)",
		Doc: "Polls until Patroni lists the expected members running with exactly one leader, and, by SQL, every " +
			"replica is in recovery on the leader's timeline with its replay position within max_lag_mb of the " +
			"leader's current WAL position. Needs each member's DSN in the cluster block.",
		Example: "kind: patroni.wait_healthy\nmembers: 3\nmax_lag_mb: 1\ntimeout: 2m",
		New:     func() steps.Step { return &WaitHealthy{Members: 3, MaxLagMB: 1, Interval: 500 * time.Millisecond} },
		Timeout: 3 * time.Minute,
		Metrics: []metric.Spec{
			leaderMetric, timelineMetric, onlineMetric, steps.LagMBMetric,
			{Name: "replicas_streaming", Type: metric.Number, Doc: "replicas caught up on the leader's timeline, by SQL"},
			{Name: "healthy_s", Type: metric.Number, Doc: "seconds until the cluster was healthy", Resolution: "the interval"},
		},
	})
	for _, k := range []struct{ name, summary, doc string }{
		{"patroni.switchover", "planned switchover to a candidate (or any healthy replica)", "POST /switchover. Records fault_at, leader_before and the leader Patroni switched to, so wait_leader and the writer measure the outage."},
		{"patroni.failover", "manual failover to a candidate", "POST /failover, which Patroni accepts even without a healthy leader. Records fault_at and leader_before."},
	} {
		steps.Register(steps.Kind{
			Name: k.name, Summary: k.summary, Doc: k.doc,
			Example: "kind: " + k.name + "\ncandidate: postgres-standby1",
			New:     func() steps.Step { return &Switchover{failover: k.name == "patroni.failover"} },
			Timeout: 90 * time.Second,
			Metrics: []metric.Spec{faultAtMetric, leaderBefore, {Name: "candidate", Type: metric.String, Doc: "the member asked to take over"}},
		})
	}
	steps.Register(steps.Kind{
		Name: "patroni.restart", Summary: "restart PostgreSQL on a member through Patroni, at once or scheduled, with Patroni's filters",
		Doc: "POST /restart on each member. The filters are Patroni's own: restart_pending restarts only a member " +
			"whose PostgreSQL has a pending restart (a changed setting that needs one), role only a member of that role, " +
			"postgres_version only a member running an older PostgreSQL. A member a filter leaves out is not an error: " +
			"Patroni answers \"restart conditions are not satisfied\", and restarted counts only the members restarted. " +
			"schedule makes Patroni restart later (a time, or a duration from when the step runs); the step returns " +
			"once Patroni has accepted it. restart_timeout bounds the restart on Patroni's side (on a primary it then fails over).",
		Example: "kind: patroni.restart\ntarget: replica\nrestart_pending: true",
		New:     func() steps.Step { return &Restart{} },
		Timeout: 2 * time.Minute,
		Metrics: []metric.Spec{faultAtMetric,
			{Name: "restarted", Type: metric.Number, Doc: "members Patroni restarted (or scheduled a restart of)"},
			{Name: "not_restarted", Type: metric.StringList, Doc: "members a filter (restart_pending, role, postgres_version) left out"},
		},
	})
	steps.Register(steps.Kind{
		Name: "patroni.reinit", Summary: "rebuild a replica from the leader through Patroni",
		Doc: "POST /reinitialize on each member: Patroni wipes the replica's data directory and clones it again. " +
			"force cancels a task Patroni is running (a restart loop); from_leader takes the base backup from the " +
			"leader even when the member's tags say to clone from a replica (Patroni 4; earlier versions ignore it).",
		Example: "kind: patroni.reinit\ntarget: member:postgres-standby2\nfrom_leader: true",
		New:     func() steps.Step { return &Reinit{} },
		Timeout: 5 * time.Minute, Metrics: []metric.Spec{faultAtMetric},
	})
	steps.Register(steps.Kind{
		Name: "patroni.pause", Summary: "put the cluster in maintenance mode (no automatic failover)",
		Doc:     "PATCH /config {pause: true}. A fault: the run resumes the cluster at the end unless patroni.resume did.",
		Example: "kind: patroni.pause", New: func() steps.Step { return &PauseCluster{pause: true} },
		Timeout: 15 * time.Second, Fault: true, Metrics: []metric.Spec{faultAtMetric},
	})
	steps.Register(steps.Kind{
		Name: "patroni.resume", Summary: "leave maintenance mode",
		Example: "kind: patroni.resume", New: func() steps.Step { return &PauseCluster{} },
		Timeout: 15 * time.Second,
	})
	steps.Register(steps.Kind{
		Name:    "patroni.config",
		Summary: "read, or patch, the dynamic configuration (ttl, loop_wait, synchronous_mode...)",
		Doc: "GET /config, or PATCH /config with set. The values become metrics, so a check can say " +
			"rto_s <= ttl + loop_wait + 5. set takes any setting Patroni has, nested ones as mappings " +
			"(postgresql: {parameters: {...}}), and non-boolean ones such as synchronous_mode: quorum, " +
			"synchronous_node_count, failsafe_mode or member_slots_ttl of Patroni 4; a null removes a setting. " +
			"A patch is a fault: the previous values are restored when the run ends (a key the patch added is removed).",
		Example: "kind: patroni.config\nset:\n  synchronous_mode: quorum # Patroni 4: true, false, on, off or quorum\n  synchronous_node_count: 2",
		New:     func() steps.Step { return &PatroniConfig{} },
		Timeout: 15 * time.Second, Fault: true,
		Metrics: []metric.Spec{
			ttlMetric, loopWaitMetric, retryMetric,
			{Name: "synchronous_mode", Type: metric.Bool, Doc: "whether synchronous replication is on (true for on and for quorum)"},
			{Name: "sync_mode", Type: metric.String, Doc: "synchronous_mode as a word: off, on or quorum (Patroni 4's quorum commit)"},
			{Name: "synchronous_node_count", Type: metric.Number, Doc: "synchronous standbys Patroni keeps (quorum: the quorum size); recorded when set"},
			{Name: "maximum_lag_on_failover", Type: metric.Number, Doc: "bytes a replica may lag and still be promoted"},
		},
	})
	fault.Register(opConfig, undoPatroniConfig)
}

// PatroniStatus reads the cluster once.
type PatroniStatus struct{}

// Run records the cluster's state.
func (s *PatroniStatus) Run(ctx context.Context, env *steps.Env) error {
	client, err := env.Ports.Patroni()
	if err != nil {
		return err
	}
	cl, err := client.Cluster(ctx)
	if err != nil {
		return err
	}
	var names []string
	roles, states, timelines := map[string]string{}, map[string]string{}, map[string]string{}
	online := 0
	for _, m := range cl.Members {
		names = append(names, m.Name)
		roles[m.Name], states[m.Name] = string(m.Role), m.State
		if m.Timeline != nil {
			timelines[m.Name] = fmt.Sprint(*m.Timeline)
		}
		if m.State == "running" || m.State == "streaming" {
			online++
		}
		env.Logf("%-20s %-12s %-10s timeline %s lag %v", m.Name, m.Role, m.State, timelines[m.Name], m.Lag)
	}
	sort.Strings(names)
	values := map[string]any{"members": names, "member_count": len(names), "roles": roles, "states": states,
		"timelines": timelines, "members_online": online, "paused": cl.Pause}
	for _, name := range names {
		if r := roles[name]; r != "leader" && r != "standby_leader" && (states[name] == "running" || states[name] == "streaming") {
			values["replica"] = name
			break
		}
	}
	if leader, ok := cl.Leader(); ok {
		values["leader"] = leader.Name
		if leader.Timeline != nil {
			values["timeline"] = float64(*leader.Timeline)
		}
		if n, err := env.LeaderNode(ctx); err == nil {
			if lag, err := pg.Lag(ctx, n); err == nil {
				streaming := 0
				for _, s := range lag.Standbys {
					if s.State == "streaming" {
						streaming++
					}
				}
				values["replicas_streaming"] = streaming
			} else {
				env.Logf("replicas_streaming not measured: %v", err)
			}
		}
	}
	return env.RecordAll(values)
}

// WaitLeader waits for a (new) leader and measures the recovery time.
type WaitLeader struct {
	Changed  bool          `yaml:"changed" doc:"require a leader other than leader_before of the fault"`
	Member   string        `yaml:"member" target:"member" doc:"require this member to be the leader"`
	Fault    string        `yaml:"fault" doc:"id of the fault step to measure from (default: the latest fault_at)"`
	Interval time.Duration `yaml:"interval" doc:"time between polls"`
}

// Validate checks the interval.
func (w *WaitLeader) Validate() error {
	if w.Interval <= 0 {
		return steps.FieldErrorf("interval", "must be more than 0")
	}
	return nil
}

// References names the fault step to measure from, when given.
func (w *WaitLeader) References() []steps.Reference {
	if w.Fault == "" {
		return nil
	}
	return []steps.Reference{{Field: "fault", What: steps.RefFault, Name: w.Fault}}
}

// Run polls /cluster until the wanted leader shows.
func (w *WaitLeader) Run(ctx context.Context, env *steps.Env) error {
	client, err := env.Ports.Patroni()
	if err != nil {
		return err
	}
	faultAt, hasFault := env.Latest(w.Fault, "fault_at")
	before := ""
	if s, ok := env.Latest(w.Fault, "leader_before"); ok {
		before = s.Value.(string)
	} else if w.Changed {
		return fmt.Errorf("changed: true needs leader_before, recorded by a fault step before this one (the leader could not be read when the fault was applied)")
	}
	ph := &phases{values: liveBound(ctx, env, client)}
	apis := env.Cluster().MemberAPIs()
	wanted := func(name string) (bool, string) {
		switch {
		case w.Changed && name == before:
			return false, fmt.Sprintf("leader is still %s", before)
		case w.Member != "" && name != w.Member:
			return false, fmt.Sprintf("leader is %s, waiting for %s", name, w.Member)
		}
		return true, ""
	}
	timeout := max(w.Interval, 250*time.Millisecond)
	views, err := env.Ports.PatroniViews()
	if err != nil {
		if len(apis) == 0 {
			return err
		}
		env.Logf("leader_key_gone_at not measured: %v", err)
	}
	if len(apis) > 0 {
		return steps.Poll(ctx, env, w.Interval, "a leader", func() (bool, string, error) {
			var gone chan time.Time
			if before != "" && ph.pending() && len(views) > 0 {
				gone = make(chan time.Time, 1)
				go func() { gone <- keyGone(ctx, timeout, views, before) }()
			}
			name, at, last := primaryByProbe(ctx, client, apis, timeout, wanted)
			if gone != nil {
				ph.sawKeyGone(<-gone)
			}
			if name == "" {
				ph.polls++
				return false, last, nil
			}
			leader := patroni.ClusterMember{Name: name}
			if cl, err := client.Cluster(ctx); err == nil {
				if m, ok := cl.Member(name); ok {
					leader = m
				}
			}
			return true, "", w.record(ctx, env, client, leader, at, faultAt, hasFault, ph)
		})
	}
	return steps.Poll(ctx, env, w.Interval, "a leader", func() (bool, string, error) {
		var last string
		for view := range askAll(ctx, timeout, views, func(ctx context.Context, c steps.Patroni) (patroni.Cluster, error) { return c.Cluster(ctx) }) {
			if view.err != nil {
				last = view.err.Error()
				continue
			}
			if before != "" && ph.pending() && view.value.LeaderName() != before {
				ph.sawKeyGone(view.at)
			}
			leader, ok := view.value.Leader()
			if !ok || leader.State != "running" {
				last = "no running leader (" + steps.DescribeRoles(view.value) + ")"
				continue
			}
			if ok, why := wanted(leader.Name); !ok {
				last = why
				continue
			}
			return true, "", w.record(ctx, env, client, leader, view.at, faultAt, hasFault, ph)
		}
		ph.polls++
		return false, last, nil
	})
}

// phases is what wait_leader measures of a failover besides the leader:
// the bound the live configuration implies, and when the old leader's key
// was first seen gone.
type phases struct {
	values    map[string]any // bound_s, ttl, loop_wait, retry_timeout as measured
	keyGoneAt time.Time
	polls     int  // polls done before this one
	goneFirst bool // the key was already gone at the first poll: when it went is not known
}

// pending reports whether the old leader's key has not been seen gone yet.
func (p *phases) pending() bool { return p.keyGoneAt.IsZero() && !p.goneFirst }

// sawKeyGone notes a poll's answer on the old leader's key: at is when an
// answer showed it gone, or zero. Gone at the very first poll dates nothing
// but the poll (a fault step that returns late, such as a stop that waits
// for the container to exit, hides when the key went).
func (p *phases) sawKeyGone(at time.Time) {
	switch {
	case at.IsZero():
	case p.polls == 0:
		p.goneFirst = true
	default:
		p.keyGoneAt = at
	}
}

// liveBound reads the live configuration (GET /config) and returns ttl,
// loop_wait, retry_timeout and bound_s = ttl + loop_wait, each only when
// Patroni reports it.
func liveBound(ctx context.Context, env *steps.Env, client steps.Patroni) map[string]any {
	values := map[string]any{}
	cfg, err := client.Config(ctx)
	if err != nil {
		env.Logf("bound_s not measured: %v", err)
		return values
	}
	for name, v := range map[string]*int{"ttl": cfg.TTL, "loop_wait": cfg.LoopWait, "retry_timeout": cfg.RetryTimeout} {
		if v != nil {
			values[name] = float64(*v)
		}
	}
	if cfg.TTL != nil && cfg.LoopWait != nil {
		values["bound_s"] = float64(*cfg.TTL + *cfg.LoopWait)
		env.Logf("live configuration: ttl %d, loop_wait %d: an unclean loss of the leader is bounded by %d s", *cfg.TTL, *cfg.LoopWait, *cfg.TTL+*cfg.LoopWait)
	}
	return values
}

// keyGone asks every member's GET /cluster at once and returns when the
// first answer came that shows before not holding the leader key (no
// leader, or another one), or the zero time. Every member builds /cluster
// from a fresh read of the DCS and names as leader only the key's holder
// (Patroni 3.0 and 4.0), so any member's answer, the old leader's
// included, is the DCS's view.
func keyGone(ctx context.Context, timeout time.Duration, views []steps.Patroni, before string) time.Time {
	for a := range askAll(ctx, timeout, views, func(ctx context.Context, c steps.Patroni) (patroni.Cluster, error) { return c.Cluster(ctx) }) {
		if a.err == nil && a.value.LeaderName() != before {
			return a.at
		}
	}
	return time.Time{}
}

// primaryByProbe asks every member's GET /primary at once, the member's
// own live view of its role, and returns the first wanted member answering
// 200 and when it answered; "" and what it saw otherwise.
func primaryByProbe(ctx context.Context, client steps.Patroni, apis map[string]string, timeout time.Duration, wanted func(string) (bool, string)) (string, time.Time, string) {
	names := make([]string, 0, len(apis))
	for name := range apis {
		names = append(names, name)
	}
	last := "no member answers 200 on /primary"
	for a := range askAll(ctx, timeout, names, func(ctx context.Context, name string) (string, error) {
		status, err := client.Probe(ctx, apis[name], patroni.CheckPrimary)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("%s: not primary (%d)", name, status)
		}
		return name, err
	}) {
		if a.err != nil {
			continue
		}
		if ok, why := wanted(a.value); !ok {
			last = why
			continue
		}
		return a.value, a.at, ""
	}
	return "", time.Time{}, last
}

// answer is one concurrent call's result and when it came.
type answer[T any] struct {
	value T
	at    time.Time
	err   error
}

// askAll calls ask for every item at once and yields the answers as they
// come, each within timeout: an item that hangs (a paused member) or is gone
// does not delay the others.
func askAll[I, T any](ctx context.Context, timeout time.Duration, items []I, ask func(context.Context, I) (T, error)) func(yield func(answer[T]) bool) {
	return func(yield func(answer[T]) bool) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		answers := make(chan answer[T], len(items))
		for _, it := range items {
			go func() {
				v, err := ask(ctx, it)
				answers <- answer[T]{value: v, at: time.Now(), err: err}
			}()
		}
		for range items {
			if !yield(<-answers) {
				return
			}
		}
	}
}

// record records the leader, when it was seen, and the phases of the
// failover that were measured.
func (w *WaitLeader) record(ctx context.Context, env *steps.Env, client steps.Patroni, leader patroni.ClusterMember, seenAt time.Time, faultAt metric.Sample, hasFault bool, ph *phases) error {
	values := map[string]any{"leader": leader.Name, "leader_seen_at": seenAt}
	maps.Copy(values, ph.values)
	if leader.Timeline != nil {
		values["timeline"] = float64(*leader.Timeline)
	}
	readyAt, ready := w.pgReady(ctx, env, leader)
	notDated := func() {
		env.Logf("PostgreSQL on %s was out of recovery at the first SQL poll, which began after the promotion or with none known: pg_ready_at and ready_s are not measured", leader.Name)
	}
	if !hasFault {
		if ready && readyAt.dated(time.Time{}, false) {
			values["pg_ready_at"] = readyAt.at
		} else if ready {
			notDated()
		}
		env.Logf("leader %s; no fault_at recorded before this step, so rto_s is not measured", leader.Name)
		return env.RecordAll(values)
	}
	fa := faultAt.Value.(time.Time)
	values["rto_s"] = seenAt.Sub(fa).Seconds()
	env.Logf("leader %s first seen %.3f s after the fault of step %s", leader.Name, seenAt.Sub(fa).Seconds(), faultAt.Step)
	if ph.polls == 0 {
		env.Logf("the first poll, %.3f s after the fault, saw the new leader: rto_s is an upper bound, set by when this step began (the fault step returned)", seenAt.Sub(fa).Seconds())
	}
	switch {
	case !ph.keyGoneAt.IsZero():
		values["leader_key_gone_at"], values["key_gone_s"] = ph.keyGoneAt, ph.keyGoneAt.Sub(fa).Seconds()
		env.Logf("the old leader's key was gone from the DCS %.3f s after the fault", ph.keyGoneAt.Sub(fa).Seconds())
	case ph.goneFirst:
		env.Logf("the old leader's key was already gone at the first poll: leader_key_gone_at, key_gone_s and election_s are not measured")
	default:
		env.Logf("the old leader's key was not seen gone before the new leader: leader_key_gone_at, key_gone_s and election_s are not measured")
	}
	p, promoted := promotionRecord(ctx, client, leader.Name, fa)
	var promotedAt time.Time
	if promoted {
		promotedAt = *p.Time
	}
	if ready && readyAt.dated(promotedAt, promoted) {
		values["pg_ready_at"] = readyAt.at
	} else if ready {
		notDated()
		ready = false
	}
	if !promoted {
		env.Logf("Patroni's /history has no promotion of %s after the fault: patroni_rto_s is not measured", leader.Name)
		return env.RecordAll(values)
	}
	values["promoted_at"] = *p.Time
	values["patroni_rto_s"] = p.Time.Sub(fa).Seconds()
	env.Logf("Patroni recorded the promotion of %s at %s (%.3f s after the fault)", p.NewLeader, p.Time.UTC().Format(time.RFC3339Nano), p.Time.Sub(fa).Seconds())
	switch d := p.Time.Sub(ph.keyGoneAt); {
	case ph.keyGoneAt.IsZero():
	case d < 0:
		env.Logf("the poll that saw the old leader's key gone answered %.3f s after the promotion record: the election was shorter than a poll, election_s is not measured", -d.Seconds())
	default:
		values["election_s"] = d.Seconds()
	}
	if ready {
		values["ready_s"] = readyAt.at.Sub(*p.Time).Seconds()
		env.Logf("PostgreSQL on %s took writes %.3f s after the promotion record (GET /primary answered 200 %.3f s after it)", leader.Name, readyAt.at.Sub(*p.Time).Seconds(), seenAt.Sub(*p.Time).Seconds())
	}
	return env.RecordAll(values)
}

// pgReadyPatience bounds how long wait_leader polls the new leader's
// PostgreSQL after Patroni named it: promotion takes well under a second.
const pgReadyPatience = 30 * time.Second

// readiness is what pgReady saw: when an answer first showed PostgreSQL out
// of recovery, when that poll began, and whether an earlier poll saw it
// still in recovery (or not answering).
type readiness struct {
	at, asked time.Time
	sawBefore bool
}

// dated reports whether the answer dates the end of recovery: an earlier
// poll saw it still in recovery, or this one began before the promotion
// (PostgreSQL writes the history file before it ends recovery).
func (r readiness) dated(promotedAt time.Time, promoted bool) bool {
	return r.sawBefore || promoted && r.asked.Before(promotedAt)
}

// pgReady polls the leader's PostgreSQL every interval until it is out of
// recovery; false when the cluster block has no DSN for it or it did not
// end recovery within pgReadyPatience.
func (w *WaitLeader) pgReady(ctx context.Context, env *steps.Env, leader patroni.ClusterMember) (readiness, bool) {
	dsn, err := steps.MemberDSN(env.MemberOf(leader))
	if err != nil {
		env.Logf("pg_ready_at not measured: %v", err)
		return readiness{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, pgReadyPatience)
	defer cancel()
	var r readiness
	polls := 0
	err = steps.Poll(ctx, env, w.Interval, "PostgreSQL out of recovery", func() (bool, string, error) {
		asked := time.Now()
		rows, err := env.Ports.SQL.Query(ctx, dsn, "SELECT pg_is_in_recovery() AS in_recovery")
		polls++
		switch {
		case err != nil:
			return false, err.Error(), nil
		case len(rows) == 1 && rows[0]["in_recovery"] == false:
			r = readiness{at: time.Now(), asked: asked, sawBefore: polls > 1}
			return true, "", nil
		}
		return false, "still in recovery", nil
	})
	if err != nil {
		env.Logf("pg_ready_at not measured: %v", err)
		return readiness{}, false
	}
	return r, true
}

// promotionRecord waits (up to 15 s: Patroni writes /history on a loop after
// the promotion) for the history entry of leader's promotion after the fault.
func promotionRecord(ctx context.Context, client steps.Patroni, leader string, after time.Time) (patroni.HistoryEntry, bool) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if h, err := client.History(ctx); err == nil {
			if p, ok := patroni.LastPromotion(h); ok && p.Time != nil && p.NewLeader == leader && p.Time.After(after.Add(-time.Second)) {
				return p, true
			}
		}
		if time.Now().After(deadline) {
			return patroni.HistoryEntry{}, false
		}
		select {
		case <-ctx.Done():
			return patroni.HistoryEntry{}, false
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// WaitHealthy waits for a healthy cluster, judged by Patroni and by SQL.
type WaitHealthy struct {
	Members  int           `yaml:"members" doc:"how many members must be running"`
	MaxLagMB float64       `yaml:"max_lag_mb" doc:"largest replay lag a replica may have, MiB"`
	Interval time.Duration `yaml:"interval" doc:"time between polls"`
}

// Validate checks the bounds.
func (w *WaitHealthy) Validate() error {
	switch {
	case w.Members < 1:
		return steps.FieldErrorf("members", "must be at least 1")
	case w.MaxLagMB < 0:
		return steps.FieldErrorf("max_lag_mb", "must not be negative")
	case w.Interval <= 0:
		return steps.FieldErrorf("interval", "must be more than 0")
	}
	return nil
}

// Run polls until healthy.
func (w *WaitHealthy) Run(ctx context.Context, env *steps.Env) error {
	client, err := env.Ports.Patroni()
	if err != nil {
		return err
	}
	start := time.Now()
	return steps.Poll(ctx, env, w.Interval, "a healthy cluster", func() (bool, string, error) {
		values, problem := w.check(ctx, env, client)
		if problem != "" {
			return false, problem, nil
		}
		values["healthy_s"] = time.Since(start).Seconds()
		env.Logf("healthy after %.1f s: leader %v, %v replicas caught up, lag %.3f MiB", time.Since(start).Seconds(), values["leader"], values["replicas_streaming"], values["lag_mb"])
		return true, "", env.RecordAll(values)
	})
}

// check returns the metrics of a healthy cluster, or what is not healthy.
func (w *WaitHealthy) check(ctx context.Context, env *steps.Env, client steps.Patroni) (map[string]any, string) {
	cl, err := client.Cluster(ctx)
	if err != nil {
		return nil, err.Error()
	}
	leader, ok := cl.Leader()
	if !ok || leader.State != "running" {
		return nil, "no running leader (" + steps.DescribeRoles(cl) + ")"
	}
	online := 0
	var replicas []pg.Node
	for _, m := range cl.Members {
		if m.State == "running" || m.State == "streaming" {
			online++
		}
		if m.Name != leader.Name {
			dsn, err := steps.MemberDSN(env.MemberOf(m))
			if err != nil {
				return nil, err.Error()
			}
			replicas = append(replicas, pg.Node{Name: m.Name, DSN: dsn})
		}
	}
	if online < w.Members {
		return nil, fmt.Sprintf("%d of %d members running (%s)", online, w.Members, steps.DescribeRoles(cl))
	}
	leaderDSN, err := steps.MemberDSN(env.MemberOf(leader))
	if err != nil {
		return nil, err.Error()
	}
	rep, err := pg.CatchUp(ctx, pg.Node{Name: leader.Name, DSN: leaderDSN}, replicas)
	if err != nil {
		return nil, err.Error()
	}
	caughtUp, maxBehind := 0, int64(0)
	var lagging []string
	for _, r := range rep.Replicas {
		switch {
		case r.Error != "":
			lagging = append(lagging, r.Node+": "+r.Error)
		case !r.InRecovery:
			lagging = append(lagging, r.Node+" is not in recovery")
		case !r.SameTimeline:
			lagging = append(lagging, fmt.Sprintf("%s on timeline %d, leader on %d", r.Node, r.Timeline, rep.Leader.Timeline))
		case r.BehindBytes == nil:
			lagging = append(lagging, r.Node+" has no replay position")
		case float64(*r.BehindBytes) > w.MaxLagMB*(1<<20):
			lagging = append(lagging, fmt.Sprintf("%s %.2f MiB behind", r.Node, float64(*r.BehindBytes)/(1<<20)))
		default:
			caughtUp++
			maxBehind = max(maxBehind, *r.BehindBytes)
		}
	}
	if len(lagging) > 0 {
		return nil, strings.Join(lagging, "; ")
	}
	return map[string]any{"leader": leader.Name, "timeline": float64(rep.Leader.Timeline), "members_online": online,
		"replicas_streaming": caughtUp, "lag_mb": float64(maxBehind) / (1 << 20)}, ""
}

// Switchover asks Patroni for a switchover or a failover.
type Switchover struct {
	Candidate   string `yaml:"candidate" target:"member" doc:"member to take over (switchover: default any healthy replica)"`
	Leader      string `yaml:"leader" target:"member" doc:"switchover only: the current leader (default: read from Patroni)"`
	ScheduledAt string `yaml:"scheduled_at" doc:"switchover only: RFC 3339 time to do it at"`

	failover bool
}

// Validate checks the combination of parameters.
func (s *Switchover) Validate() error {
	if s.failover && s.Candidate == "" {
		return steps.FieldErrorf("candidate", "patroni.failover needs a candidate")
	}
	if s.failover && (s.Leader != "" || s.ScheduledAt != "") {
		return steps.FieldErrorf("leader", "patroni.failover takes only a candidate")
	}
	if s.ScheduledAt != "" {
		if _, err := time.Parse(time.RFC3339, s.ScheduledAt); err != nil {
			return steps.FieldErrorf("scheduled_at", "must be an RFC 3339 time such as 2026-11-27T12:00:00Z")
		}
	}
	return nil
}

// Run asks Patroni and records when.
func (s *Switchover) Run(ctx context.Context, env *steps.Env) error {
	client, err := env.Ports.Patroni()
	if err != nil {
		return err
	}
	cl, err := client.Cluster(ctx)
	if err != nil {
		return err
	}
	before := cl.LeaderName()
	var res patroni.ActionResult
	at := time.Now()
	if s.failover {
		res, err = client.Failover(ctx, s.Candidate)
	} else {
		leader := s.Leader
		if leader == "" {
			leader = before
		}
		var when *time.Time
		if s.ScheduledAt != "" {
			t, _ := time.Parse(time.RFC3339, s.ScheduledAt)
			when = &t
		}
		res, err = client.Switchover(ctx, leader, s.Candidate, when)
	}
	if err != nil {
		return err
	}
	env.Logf("%d %s", res.Status, res.Message)
	values := map[string]any{"fault_at": at, "candidate": s.Candidate}
	if before != "" {
		values["leader_before"] = before
	}
	return env.RecordAll(values)
}

// Restart restarts PostgreSQL on members through Patroni.
type Restart struct {
	Target          string        `yaml:"target" target:"unit" required:"true" doc:"member(s) to restart: a service, or leader, replica, any_replica, sync_standby, member:NAME"`
	Schedule        string        `yaml:"schedule" doc:"restart later: an RFC 3339 time (2026-11-27T12:00:00Z) or a duration from when the step runs (30s)"`
	RestartPending  bool          `yaml:"restart_pending" doc:"restart only a member whose PostgreSQL has a pending restart"`
	Role            string        `yaml:"role" enum:"primary|master|replica|standby_leader" doc:"restart only a member of this role (primary and master are the same: drill sends the word the member's Patroni knows)"`
	PostgresVersion string        `yaml:"postgres_version" doc:"restart only a member whose PostgreSQL is older than this version, e.g. \"17.2\""`
	RestartTimeout  time.Duration `yaml:"restart_timeout" doc:"Patroni's own bound on the restart, whole seconds; past it Patroni gives up (a primary fails over)"`
}

// Validate checks the target, the schedule and the filters.
func (r *Restart) Validate() error {
	if _, err := parseSchedule(r.Schedule, time.Now()); err != nil {
		return err
	}
	if r.PostgresVersion != "" && !dsl.HasRefs(r.PostgresVersion) && !pgVersionRE.MatchString(r.PostgresVersion) {
		return steps.FieldErrorf("postgres_version", "must be a PostgreSQL version such as 17.2 or 9.6.24, found %q", r.PostgresVersion)
	}
	if r.RestartTimeout%time.Second != 0 {
		return steps.FieldErrorf("restart_timeout", "must be whole seconds, found %s", r.RestartTimeout)
	}
	return steps.ValidateTarget("target", r.Target)
}

// pgVersionRE is a version Patroni's postgres_version_to_int accepts.
var pgVersionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+){1,2}$`)

// parseSchedule reads schedule: "" (now), an RFC 3339 time, or a duration
// from now.
func parseSchedule(schedule string, now time.Time) (*time.Time, error) {
	if schedule == "" || dsl.HasRefs(schedule) {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, schedule); err == nil {
		return &t, nil
	}
	d, err := time.ParseDuration(schedule)
	if err != nil || d <= 0 {
		return nil, steps.FieldErrorf("schedule", "must be an RFC 3339 time such as 2026-11-27T12:00:00Z or a duration from now such as 30s, found %q", schedule)
	}
	t := now.Add(d).Truncate(time.Second).Add(time.Second) // Patroni reads whole seconds: never in the past
	return &t, nil
}

// Run asks each member's Patroni to restart.
func (r *Restart) Run(ctx context.Context, env *steps.Env) error {
	client, members, err := patroniMembers(ctx, env, r.Target)
	if err != nil {
		return err
	}
	at := time.Now()
	when, err := parseSchedule(r.Schedule, at)
	if err != nil {
		return err
	}
	restarted, notRestarted := 0, []string{}
	for _, name := range members {
		opts := patroni.RestartOptions{Schedule: when, RestartPending: r.RestartPending, Role: r.Role, PostgresVersion: r.PostgresVersion, Timeout: r.RestartTimeout}
		if r.Role == "primary" || r.Role == "master" {
			if opts.Role, err = primaryWord(ctx, client, name); err != nil {
				return err
			}
		}
		res, err := client.Restart(ctx, name, opts)
		if patroni.NotMatched(err) {
			env.Logf("restart %s: not restarted, a filter does not match (Patroni: %s)", name, patroni.RestartNotMatched)
			notRestarted = append(notRestarted, name)
			continue
		}
		if err != nil {
			return err
		}
		env.Logf("restart %s: %d %s", name, res.Status, res.Message)
		restarted++
	}
	return env.RecordAll(map[string]any{"fault_at": at, "restarted": restarted, "not_restarted": notRestarted})
}

// primaryWord is how the member's Patroni spells the primary role in a
// restart filter: master before Patroni 3.1, primary since.
func primaryWord(ctx context.Context, client steps.Patroni, member string) (string, error) {
	url, err := client.MemberURL(ctx, member)
	if err != nil {
		return "", err
	}
	st, err := client.Member(ctx, url)
	if err != nil {
		return "", fmt.Errorf("role: reading the Patroni version of %s: %w", member, err)
	}
	if v, err := semver.NewVersion(st.Patroni.Version); err == nil && v.LessThan(semver.MustParse("3.1.0")) {
		return "master", nil
	}
	return "primary", nil
}

// Reinit rebuilds replicas through Patroni.
type Reinit struct {
	Target     string `yaml:"target" target:"unit" required:"true" doc:"member(s) to rebuild: a service, or replica, any_replica, sync_standby, member:NAME"`
	Force      bool   `yaml:"force" doc:"cancel a task Patroni is running (a restart loop) to reinit"`
	FromLeader bool   `yaml:"from_leader" doc:"take the base backup from the leader, not a replica the tags name (Patroni 4)"`
}

// Validate checks the target.
func (r *Reinit) Validate() error { return steps.ValidateTarget("target", r.Target) }

// Run asks each member's Patroni to reinitialise.
func (r *Reinit) Run(ctx context.Context, env *steps.Env) error {
	client, members, err := patroniMembers(ctx, env, r.Target)
	if err != nil {
		return err
	}
	at := time.Now()
	for _, name := range members {
		res, err := client.Reinit(ctx, name, patroni.ReinitOptions{Force: r.Force, FromLeader: r.FromLeader})
		if err != nil {
			return err
		}
		env.Logf("reinit %s: %d %s", name, res.Status, res.Message)
	}
	return env.Record("fault_at", at)
}

// patroniMembers returns the Patroni client and the names of the members
// target stands for.
func patroniMembers(ctx context.Context, env *steps.Env, target string) (steps.Patroni, []string, error) {
	client, err := env.Ports.Patroni()
	if err != nil {
		return nil, nil, err
	}
	members, err := env.Members(ctx, target)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(members))
	for _, m := range members {
		if m.Name == "" {
			return nil, nil, fmt.Errorf("service %q runs no known Patroni member: map it in cluster.members", m.Service)
		}
		names = append(names, m.Name)
	}
	return client, names, nil
}

// PauseCluster enters or leaves maintenance mode.
type PauseCluster struct {
	pause bool
}

// Run pauses (as a fault, resumed at the end) or resumes.
func (p *PauseCluster) Run(ctx context.Context, env *steps.Env) error {
	client, err := env.Ports.Patroni()
	if err != nil {
		return err
	}
	if !p.pause {
		if err := client.Resume(ctx); err != nil {
			return err
		}
		return env.Faults.Resolved(opConfig, "cluster:pause")
	}
	undo := configUndo(client, map[string]any{"pause": false})
	err = env.Faults.Inject(ctx, fault.Fault{Desc: "pause the Patroni cluster (maintenance mode)", Target: "cluster:pause", Undo: undo},
		func(ctx context.Context) error { return client.Pause(ctx) })
	if err != nil {
		return err
	}
	return env.Record("fault_at", time.Now())
}

// PatroniConfig reads or patches the dynamic configuration.
type PatroniConfig struct {
	Set map[string]any `yaml:"set" doc:"keys to change, e.g. {synchronous_mode: true, ttl: 10}; the old values come back at the end of the run"`
}

// Build checks the values of settings whose shape drill knows (Patroni
// checks the rest): synchronous_mode must be true, false or quorum.
func (p *PatroniConfig) Build(bc *steps.BuildContext) error {
	if v, ok := p.Set["synchronous_mode"]; ok {
		if str, isStr := v.(string); !isStr || !dsl.HasRefs(str) {
			if _, err := patroni.ParseSyncMode(v); err != nil {
				return dsl.Errorf(bc.KeyPos("set", "synchronous_mode"), "set.synchronous_mode must be true, false or quorum (Patroni 4), found %s", describeValue(v))
			}
		}
	}
	return nil
}

// describeValue names a decoded YAML value and its type for messages.
func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

// Run patches (as a fault) and records the configuration.
func (p *PatroniConfig) Run(ctx context.Context, env *steps.Env) error {
	client, err := env.Ports.Patroni()
	if err != nil {
		return err
	}
	cfg, err := client.Config(ctx)
	if err != nil {
		return err
	}
	if len(p.Set) > 0 {
		var keys []string
		for k := range p.Set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		undo := configUndo(client, undoPatch(cfg.Raw, p.Set))
		err = env.Faults.Inject(ctx, fault.Fault{Desc: "patch the Patroni configuration: " + strings.Join(keys, ", "), Target: "cluster:config", Undo: undo},
			func(ctx context.Context) error {
				cfg, err = client.PatchConfig(ctx, p.Set)
				return err
			})
		if err != nil {
			return err
		}
		env.Logf("patched %v", p.Set)
	}
	values := map[string]any{}
	putInt := func(name string, v *int) {
		if v != nil {
			values[name] = float64(*v)
		}
	}
	putInt("ttl", cfg.TTL)
	putInt("loop_wait", cfg.LoopWait)
	putInt("retry_timeout", cfg.RetryTimeout)
	putInt("synchronous_node_count", cfg.SynchronousNodeCount)
	if cfg.MaximumLagOnFailover != nil {
		values["maximum_lag_on_failover"] = float64(*cfg.MaximumLagOnFailover)
	}
	mode := patroni.SyncOff // Patroni's default when the key is absent
	if cfg.SynchronousMode != nil {
		mode = *cfg.SynchronousMode
	}
	values["synchronous_mode"], values["sync_mode"] = mode.Enabled(), string(mode)
	return env.RecordAll(values)
}

// undoPatch is the PATCH /config that takes the configuration old back from
// what patch makes of it. Patroni merges a patch into the configuration
// key by key, nested mappings included, and a null removes a key: so a
// mapping patched into a mapping is undone key by key, and a key the patch
// adds is undone by a null.
func undoPatch(old, patch map[string]any) map[string]any {
	out := make(map[string]any, len(patch))
	for k, v := range patch {
		was, had := old[k]
		sub, isMap := v.(map[string]any)
		wasMap, wasIsMap := was.(map[string]any)
		switch {
		case !had:
			out[k] = nil
		case isMap && wasIsMap:
			out[k] = undoPatch(wasMap, sub)
		default:
			out[k] = was
		}
	}
	return out
}

// opConfig is the undo of patroni.config and patroni.pause: patch the old
// values back.
const opConfig = "patroni.config"

// configPatch is the undo of a configuration change: the URLs to reach
// Patroni and the values to put back.
type configPatch struct {
	URLs  []string       `json:"urls"`
	Patch map[string]any `json:"patch"`
}

// configUndo is the ledger's undo of a configuration change.
func configUndo(client steps.Patroni, patch map[string]any) fault.Action {
	return fault.NewAction(opConfig, configPatch{URLs: client.URLs(), Patch: patch})
}

// configUndoPatience is how long the undo of a configuration change keeps
// trying: Patroni answers PATCH /config only while it reaches the DCS, and
// right after a DCS outage that a drill has just undone it needs a loop or
// two to reconnect.
const configUndoPatience = time.Minute

// undoPatroniConfig puts the old values back through the URLs the ledger
// names, trying again every second for up to configUndoPatience.
func undoPatroniConfig(ctx context.Context, _ fault.Connector, args json.RawMessage) error {
	var p configPatch
	if err := json.Unmarshal(args, &p); err != nil {
		return fmt.Errorf("bad undo arguments: %w", err)
	}
	client, err := patroni.New(p.URLs, patroni.Options{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, configUndoPatience)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		_, err = client.PatchConfig(ctx, p.Patch)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step      = (*Restart)(nil)
	_ steps.Validator = (*Restart)(nil)
	_ steps.Step      = (*Reinit)(nil)
	_ steps.Validator = (*Reinit)(nil)
	_ steps.Step      = (*PatroniConfig)(nil)
	_ steps.Builder   = (*PatroniConfig)(nil)
	_ steps.Step      = (*PatroniStatus)(nil)
	_ steps.Step      = (*PauseCluster)(nil)
	_ steps.Step      = (*Switchover)(nil)
	_ steps.Validator = (*Switchover)(nil)
	_ steps.Step      = (*WaitHealthy)(nil)
	_ steps.Validator = (*WaitHealthy)(nil)
	_ steps.Step      = (*WaitLeader)(nil)
	_ steps.Validator = (*WaitLeader)(nil)
	_ steps.Referrer  = (*WaitLeader)(nil)
)
