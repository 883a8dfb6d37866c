package sql

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/steps"
)

// The sql.* and pg.* kinds: SQL on a member, the pooled endpoint or a DSN,
// replication lag and write-read consistency.

func init() {
	steps.Register(steps.Kind{
		Name:    "sql.exec",
		Summary: "run a SQL statement",
		Doc:     "Runs sql (with optional args as $1, $2...) on every node `on` resolves to, or on dsn. Records the rows it affected, summed.",
		Example: "kind: sql.exec\non: leader\nsql: DELETE FROM files WHERE id LIKE 'test_%'",
		New:     func() steps.Step { return &SQLExec{On: steps.RoleLeader} },
		Timeout: 30 * time.Second,
		Metrics: []metric.Spec{{Name: "rows_affected", Type: metric.Number, Doc: "rows the statement changed"}},
	})
	steps.Register(steps.Kind{
		Name:    "sql.query",
		Summary: "run a query and record chosen columns of its first row, on one node or on every member",
		Doc: "Runs a query on one node and records the columns named in record (name: number|string|bool) from the first " +
			"row, and the number of rows. With on: all it runs on every member of the cluster block at once and records " +
			"by_member, a map from member name to that member's first row ({column: value, row_count: n}; a NULL is nil), " +
			"which expressions read as by_member[\"NAME\"].column or over values(by_member) with all, any, map, uniq; " +
			"a member that does not answer within member_timeout is not dropped: it is in member_errors, and the step " +
			"fails unless allow_down is true.",
		Example: "kind: sql.query\non: all\nsql: SELECT pg_is_in_recovery() AS in_recovery, " +
			"(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END - '0/0')::float8 AS lsn\n" +
			"record:\n  in_recovery: bool\n  lsn: number",
		New:     func() steps.Step { return &SQLQuery{On: steps.RoleLeader, MemberTimeout: 5 * time.Second} },
		Timeout: 30 * time.Second,
		Metrics: []metric.Spec{
			{Name: "row_count", Type: metric.Number, Doc: "rows the query returned (on one node)"},
			{Name: "by_member", Type: metric.Any, Doc: "on: all: member name to {column: value, row_count: n} of its first row, for each member that answered"},
			{Name: "member_errors", Type: metric.StringMap, Doc: "on: all: member name to why it did not answer (empty when all did)"},
			{Name: "members_answered", Type: metric.Number, Doc: "on: all: how many members answered"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "pg.lag",
		Summary: "replication lag of every standby, from pg_stat_replication on the leader",
		Doc:     "Reads pg_stat_replication on the leader (or dsn). lag_mb is the largest replay lag in MiB.",
		Example: "kind: pg.lag",
		New:     func() steps.Step { return &PGLag{On: steps.RoleLeader} },
		Timeout: 15 * time.Second,
		Metrics: []metric.Spec{
			steps.LagMBMetric,
			{Name: "lag_bytes", Type: metric.Number, Doc: "the largest replay lag in bytes"},
			{Name: "replay_lag_s", Type: metric.Number, Doc: "the largest replay_lag PostgreSQL reports, seconds (absent when every standby is idle and caught up)"},
			{Name: "standbys", Type: metric.Number, Doc: "standbys connected to the leader"},
			{Name: "standbys_streaming", Type: metric.Number, Doc: "standbys in state streaming"},
			{Name: "lag_by_standby", Type: metric.StringMap, Doc: "standby to replay lag in bytes"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "pg.replicated",
		Summary: "write a marker on the leader and wait until every replica reads it",
		Doc:     "The write-read consistency test: a row written on the leader must become readable on each replica (or the given ones) within the timeout.",
		Example: "kind: pg.replicated\nreplicas: replica\ntimeout: 30s",
		New:     func() steps.Step { return &PGReplicated{Leader: steps.RoleLeader, Replicas: steps.RoleReplicas} },
		Timeout: 30 * time.Second,
		Metrics: []metric.Spec{
			{Name: "replication_delay_ms", Type: metric.Number, Doc: "the slowest replica's delay from the leader's commit to reading the marker", Resolution: "the replica poll interval (20 ms)"},
			{Name: "replicas_confirmed", Type: metric.Number, Doc: "replicas that read the marker"},
		},
	})
}

// SQLExec runs a statement.
type SQLExec struct {
	On   string   `yaml:"on" target:"sql,all,read" doc:"where to run: leader, replica, any_replica, sync_standby, member:NAME, a compose service, pooled (cluster.pooled_dsn), replica_route (cluster.replica_dsn, read-only), or all (every member of the cluster block)"`
	DSN  string   `yaml:"dsn" doc:"run here instead (overrides on)"`
	SQL  string   `yaml:"sql" required:"true" doc:"the statement"`
	Args []string `yaml:"args" doc:"values for $1, $2..."`
}

// Validate checks the target.
func (s *SQLExec) Validate() error { return steps.ValidateOn(s.On, s.DSN) }

// Run executes on every node.
func (s *SQLExec) Run(ctx context.Context, env *steps.Env) error {
	nodes, err := env.Nodes(ctx, s.On, s.DSN)
	if err != nil {
		return err
	}
	total := int64(0)
	for _, n := range nodes {
		res, err := env.Ports.SQL.Exec(ctx, n.DSN, s.SQL, anyArgs(s.Args)...)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		env.Logf("%s: %s", n.Name, res.Tag)
		total += res.RowsAffected
	}
	return env.Record("rows_affected", total)
}

func anyArgs(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// SQLQuery runs a query and records columns of its first row, on one node
// or on every member.
type SQLQuery struct {
	On            string            `yaml:"on" target:"sql,all,read" doc:"where to run: one node (leader, any_replica, sync_standby, member:NAME, a compose service, pooled, or replica_route: cluster.replica_dsn), or all: every member of the cluster block"`
	DSN           string            `yaml:"dsn" doc:"run here instead (overrides on)"`
	SQL           string            `yaml:"sql" required:"true" doc:"the query"`
	Args          []string          `yaml:"args" doc:"values for $1, $2..."`
	Record        map[string]string `yaml:"record" doc:"column name to metric type (number, string or bool) to record from the first row"`
	AllowDown     bool              `yaml:"allow_down" doc:"on: all: a member that does not answer is recorded in member_errors without failing the step"`
	MemberTimeout time.Duration     `yaml:"member_timeout" doc:"on: all: how long one member may take to answer"`
}

// Validate checks the target and the record types.
func (s *SQLQuery) Validate() error {
	if err := steps.ValidateOn(s.On, s.DSN); err != nil {
		return err
	}
	for name, typ := range s.Record {
		if typ != "number" && typ != "string" && typ != "bool" {
			return steps.FieldErrorf("record", "%s: type must be number, string or bool, not %q", name, typ)
		}
		if name == "row_count" {
			return steps.FieldErrorf("record", "row_count is recorded already: alias the column")
		}
	}
	if !s.everyMember() {
		if s.AllowDown {
			return steps.FieldErrorf("allow_down", "only applies with on: all (every member); a query on one node fails when the node is down")
		}
		return nil
	}
	if s.MemberTimeout <= 0 {
		return steps.FieldErrorf("member_timeout", "must be more than 0")
	}
	return nil
}

// everyMember reports whether the query runs on every member.
func (s *SQLQuery) everyMember() bool { return s.On == steps.OnAll && s.DSN == "" }

// DeclaredMetrics declares one metric per recorded column, on one node;
// with on: all the columns are in by_member.
func (s *SQLQuery) DeclaredMetrics() []metric.Spec {
	if s.everyMember() {
		return nil
	}
	var out []metric.Spec
	for name, typ := range s.Record {
		t := map[string]metric.Type{"number": metric.Number, "string": metric.String, "bool": metric.Bool}[typ]
		out = append(out, metric.Spec{Name: name, Type: t, Doc: "column " + name + " of the first row"})
	}
	return out
}

// Run queries and records.
func (s *SQLQuery) Run(ctx context.Context, env *steps.Env) error {
	if s.everyMember() {
		return s.runEvery(ctx, env)
	}
	n, err := env.Node(ctx, s.On, s.DSN)
	if err != nil {
		return err
	}
	result, err := env.Ports.SQL.Query(ctx, n.DSN, s.SQL, anyArgs(s.Args)...)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	env.Logf("%s: %d rows", n.Name, len(result))
	if err := env.Record("row_count", len(result)); err != nil {
		return err
	}
	row, err := s.firstRow(result, false)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	for name, v := range row {
		env.Logf("%s = %v", name, v)
		if err := env.Record(name, v); err != nil {
			return err
		}
	}
	return nil
}

// firstRow converts the recorded columns of the first row to their types;
// nullOK lets a NULL through as nil (by_member holds any value).
func (s *SQLQuery) firstRow(result []map[string]any, nullOK bool) (map[string]any, error) {
	out := map[string]any{}
	if len(s.Record) == 0 {
		return out, nil
	}
	if len(result) == 0 {
		return nil, fmt.Errorf("the query returned no row to record %s from", strings.Join(slices.Sorted(maps.Keys(s.Record)), ", "))
	}
	for name, typ := range s.Record {
		v, ok := result[0][name]
		if !ok {
			return nil, fmt.Errorf("no column %q in the result (columns: %s)", name, strings.Join(slices.Sorted(maps.Keys(result[0])), ", "))
		}
		if v == nil && nullOK {
			out[name] = nil
			continue
		}
		conv, err := columnValue(v, typ)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", name, err)
		}
		out[name] = conv
	}
	return out, nil
}

// runEvery runs the query on every member at once, each under
// member_timeout, and records the answers by member.
func (s *SQLQuery) runEvery(ctx context.Context, env *steps.Env) error {
	nodes, err := env.Nodes(ctx, steps.OnAll, "")
	if err != nil {
		return err
	}
	rows := make([]map[string]any, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mctx, cancel := context.WithTimeout(ctx, s.MemberTimeout)
			defer cancel()
			result, err := env.Ports.SQL.Query(mctx, n.DSN, s.SQL, anyArgs(s.Args)...)
			if err == nil {
				rows[i], err = s.firstRow(result, true)
				if err == nil {
					rows[i]["row_count"] = float64(len(result))
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	byMember, failed := map[string]any{}, map[string]string{}
	var down []string
	for i, n := range nodes {
		if errs[i] != nil {
			failed[n.Name] = strings.Join(strings.Fields(errs[i].Error()), " ") // pgx's errors span lines
			down = append(down, n.Name)
			env.Logf("%s: %s", n.Name, failed[n.Name])
			continue
		}
		byMember[n.Name] = rows[i]
		env.Logf("%s: %s", n.Name, metric.Format(rows[i]))
	}
	if err := env.RecordAll(map[string]any{"by_member": byMember, "member_errors": failed, "members_answered": len(byMember)}); err != nil {
		return err
	}
	if len(down) > 0 && !s.AllowDown {
		return fmt.Errorf("%d of %d members did not answer (%s): %s; allow_down: true records them in member_errors without failing",
			len(down), len(nodes), strings.Join(down, ", "), failed[down[0]])
	}
	return nil
}

// columnValue converts a column value to the declared metric type.
func columnValue(v any, typ string) (any, error) {
	if v == nil {
		return nil, fmt.Errorf("is NULL")
	}
	switch typ {
	case "string":
		return fmt.Sprint(v), nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%v (%T) is not a bool", v, v)
		}
		return b, nil
	}
	switch n := v.(type) {
	case int16:
		return float64(n), nil
	case int32:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case float32:
		return float64(n), nil
	case float64:
		return n, nil
	}
	return nil, fmt.Errorf("%v (%T) is not a number: cast it in SQL, e.g. ::float8", v, v)
}

// PGLag reads replication lag on the leader.
type PGLag struct {
	On  string `yaml:"on" target:"sql" doc:"the primary to read pg_stat_replication on (default the leader)"`
	DSN string `yaml:"dsn" doc:"read here instead"`
}

// Validate checks the target.
func (l *PGLag) Validate() error { return steps.ValidateOn(l.On, l.DSN) }

// Run records the lag of every standby.
func (l *PGLag) Run(ctx context.Context, env *steps.Env) error {
	n, err := env.Node(ctx, l.On, l.DSN)
	if err != nil {
		return err
	}
	rep, err := env.Ports.SQL.Lag(ctx, n)
	if err != nil {
		return err
	}
	byStandby := map[string]string{}
	streaming := 0
	var maxReplayS *float64
	for _, s := range rep.Standbys {
		lag := "unknown"
		if s.ReplayLagBytes != nil {
			lag = fmt.Sprint(*s.ReplayLagBytes)
		}
		byStandby[s.ApplicationName] = lag
		if s.State == "streaming" {
			streaming++
		}
		if s.ReplayLagS != nil && (maxReplayS == nil || *s.ReplayLagS > *maxReplayS) {
			maxReplayS = s.ReplayLagS
		}
		env.Logf("%-20s %-10s %-6s replay lag %s bytes", s.ApplicationName, s.State, s.SyncState, lag)
	}
	values := map[string]any{"standbys": len(rep.Standbys), "standbys_streaming": streaming, "lag_by_standby": byStandby}
	if rep.MaxReplayLagBytes != nil {
		values["lag_bytes"] = *rep.MaxReplayLagBytes
		values["lag_mb"] = float64(*rep.MaxReplayLagBytes) / (1 << 20)
	}
	if maxReplayS != nil {
		values["replay_lag_s"] = *maxReplayS
	}
	return env.RecordAll(values)
}

// PGReplicated checks write-read consistency.
type PGReplicated struct {
	Leader   string `yaml:"leader" target:"unit" doc:"where to write the marker (default: the leader)"`
	Replicas string `yaml:"replicas" target:"unit" doc:"which replicas must read the marker: replica (all), any_replica, member:NAME or a service"`
}

// Validate checks the targets.
func (r *PGReplicated) Validate() error {
	if err := steps.ValidateTarget("leader", r.Leader); err != nil {
		return err
	}
	return steps.ValidateTarget("replicas", r.Replicas)
}

// Run writes a marker and waits for the replicas.
func (r *PGReplicated) Run(ctx context.Context, env *steps.Env) error {
	leader, err := env.Node(ctx, r.Leader, "")
	if err != nil {
		return err
	}
	replicas, err := env.Nodes(ctx, r.Replicas, "")
	if err != nil {
		return err
	}
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	rep, err := env.Ports.SQL.Replicated(ctx, leader, replicas, timeout)
	confirmed := 0
	for _, d := range rep.Replicas {
		if d.Delay != nil {
			confirmed++
			env.Logf("%s read the marker %.1f ms after the commit", d.Node, float64(*d.Delay)/float64(time.Millisecond))
		} else {
			env.Logf("%s: %s", d.Node, d.Error)
		}
	}
	values := map[string]any{"replicas_confirmed": confirmed}
	if rep.MaxDelay != nil && confirmed == len(rep.Replicas) {
		values["replication_delay_ms"] = float64(*rep.MaxDelay) / float64(time.Millisecond)
	}
	if rerr := env.RecordAll(values); rerr != nil {
		return rerr
	}
	return err
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step           = (*PGLag)(nil)
	_ steps.Validator      = (*PGLag)(nil)
	_ steps.Step           = (*PGReplicated)(nil)
	_ steps.Validator      = (*PGReplicated)(nil)
	_ steps.Step           = (*SQLExec)(nil)
	_ steps.Validator      = (*SQLExec)(nil)
	_ steps.Step           = (*SQLQuery)(nil)
	_ steps.Validator      = (*SQLQuery)(nil)
	_ steps.MetricDeclarer = (*SQLQuery)(nil)
)
