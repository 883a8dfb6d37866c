package sql

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
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
		Summary: "run a query and record chosen columns of its first row",
		Doc: "Runs a query on one node and records the columns named in record (name: number|string|bool) from the first " +
			"row, and the number of rows.",
		Example: "kind: sql.query\non: leader\nsql: SELECT version() AS version, count(*) AS files FROM files\nrecord:\n  version: string\n  files: number",
		New:     func() steps.Step { return &SQLQuery{On: steps.RoleLeader} },
		Timeout: 30 * time.Second,
		Metrics: []metric.Spec{{Name: "row_count", Type: metric.Number, Doc: "rows the query returned"}},
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
	On   string   `yaml:"on" target:"sql" doc:"where to run: leader, replica, any_replica, sync_standby, member:NAME, a compose service, or pooled (cluster.pooled_dsn)"`
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

// SQLQuery runs a query and records columns of its first row.
type SQLQuery struct {
	On     string            `yaml:"on" target:"sql" doc:"where to run (one node): leader, any_replica, sync_standby, member:NAME, a compose service, or pooled"`
	DSN    string            `yaml:"dsn" doc:"run here instead (overrides on)"`
	SQL    string            `yaml:"sql" required:"true" doc:"the query"`
	Args   []string          `yaml:"args" doc:"values for $1, $2..."`
	Record map[string]string `yaml:"record" doc:"column name to metric type (number, string or bool) to record from the first row"`
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
	return nil
}

// DeclaredMetrics declares one metric per recorded column.
func (s *SQLQuery) DeclaredMetrics() []metric.Spec {
	var out []metric.Spec
	for name, typ := range s.Record {
		t := map[string]metric.Type{"number": metric.Number, "string": metric.String, "bool": metric.Bool}[typ]
		out = append(out, metric.Spec{Name: name, Type: t, Doc: "column " + name + " of the first row"})
	}
	return out
}

// Run queries and records.
func (s *SQLQuery) Run(ctx context.Context, env *steps.Env) error {
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
	if len(s.Record) == 0 {
		return nil
	}
	if len(result) == 0 {
		return fmt.Errorf("%s: the query returned no row to record %s from", n.Name, strings.Join(slices.Sorted(maps.Keys(s.Record)), ", "))
	}
	for name, typ := range s.Record {
		v, ok := result[0][name]
		if !ok {
			return fmt.Errorf("%s: no column %q in the result (columns: %s)", n.Name, name, strings.Join(slices.Sorted(maps.Keys(result[0])), ", "))
		}
		conv, err := columnValue(v, typ)
		if err != nil {
			return fmt.Errorf("column %s: %w", name, err)
		}
		env.Logf("%s = %v", name, conv)
		if err := env.Record(name, conv); err != nil {
			return err
		}
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
