// Package pg is drill's only client of PostgreSQL (through pgx v5). It owns
// the SQL-side measurements of a drill: replication lag, replica catch-up
// and timelines, marker-row propagation, a failover-aware background writer
// with per-attempt accounting, a fast insert load generator, a split-brain
// watcher and a per-node status probe.
//
// Every query runs under a context deadline (DefaultQueryTimeout when the
// caller's context has none) and every connection attempt under a connect
// timeout, so a frozen server costs a timeout, never a hang. A value that
// could not be measured is reported as absent (a nil pointer), never as 0.
//
// drill creates its own tables in the database the DSNs name, with CREATE
// TABLE IF NOT EXISTS, on first use: drill_markers (Replicated),
// drill_writes (Writer) and drill_probes (SplitBrainWatcher). Rows are
// tagged with a run ID and never deleted by drill.
package pg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Defaults for connections and queries.
const (
	DefaultConnectTimeout   = 2 * time.Second
	DefaultStatementTimeout = 5 * time.Second
	DefaultQueryTimeout     = 5 * time.Second
	DefaultApplicationName  = "drill"
)

// Node is a PostgreSQL server drill addresses directly: Name labels it in
// reports and logs (the DSN is never logged: it may hold a password), DSN
// is a libpq-style connection string or URL that pgx accepts.
type Node struct {
	Name string
	DSN  string
}

func (n Node) String() string { return n.Name }

// ConnOptions tune Connect. The zero value means the defaults.
type ConnOptions struct {
	// ConnectTimeout bounds establishing the connection, per host of a
	// multi-host DSN (default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// StatementTimeout is sent as the statement_timeout startup parameter
	// so the server abandons a runaway statement. 0 leaves it unset, which
	// is required through PgBouncer: it refuses unknown startup parameters.
	StatementTimeout time.Duration
	// ApplicationName is used unless the DSN sets one (default "drill").
	ApplicationName string
	// ExecMode overrides pgx's default query execution mode. Use
	// pgx.QueryExecModeExec through a transaction-pooling PgBouncer: it
	// never creates named prepared statements and costs one round trip.
	ExecMode *pgx.QueryExecMode

	// wrap, if set, wraps the network connection (before TLS).
	wrap func(net.Conn) net.Conn
}

// Connect opens one connection. The connect timeout applies even when ctx
// has no deadline.
func Connect(ctx context.Context, dsn string, o ConnOptions) (*pgx.Conn, error) {
	conn, err := connect(ctx, dsn, o)
	if err != nil {
		return nil, fmt.Errorf("pg: connect: %w", err)
	}
	return conn, nil
}

// connect is Connect with pgx's error unwrapped, for callers that say
// themselves what they were connecting to.
func connect(ctx context.Context, dsn string, o ConnOptions) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN: %w", err)
	}
	timeout := o.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	cfg.ConnectTimeout = timeout
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		name := o.ApplicationName
		if name == "" {
			name = DefaultApplicationName
		}
		cfg.RuntimeParams["application_name"] = name
	}
	if o.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	if o.ExecMode != nil {
		cfg.DefaultQueryExecMode = *o.ExecMode
	}
	if o.wrap != nil {
		dial := cfg.DialFunc
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return o.wrap(c), nil
		}
	}
	hosts := 1 + len(cfg.Fallbacks)
	ctx, cancel := context.WithTimeout(ctx, timeout*time.Duration(hosts))
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if code := sqlState(err); code == "28P01" || code == "28000" {
			return nil, &AuthError{User: cfg.User, DSN: maskedDSN(cfg), Code: code, Err: err}
		}
		return nil, err
	}
	return conn, nil
}

// AuthError is a server refusing drill's credentials: SQLSTATE 28P01 (wrong
// password) or 28000 (no pg_hba entry, unknown role). Retrying cannot fix
// it: every caller that retries or polls fails at once on it.
type AuthError struct {
	User string // the user refused
	DSN  string // where, with the password masked
	Code string // the SQLSTATE
	Err  error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication refused for user %q at %s (SQLSTATE %s): %v; not retried: check the DSN's user and password and the server's pg_hba", e.User, e.DSN, e.Code, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Permanent says a retry cannot help (see steps.IsPermanent).
func (e *AuthError) Permanent() bool { return true }

// maskedDSN names a connection's target as a URL without its password.
func maskedDSN(cfg *pgx.ConnConfig) string {
	user := cfg.User
	if cfg.Password != "" {
		user += ":***"
	}
	return fmt.Sprintf("postgres://%s@%s/%s", user, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

// nodeConnOptions are the options for short checks against one node.
var nodeConnOptions = ConnOptions{StatementTimeout: DefaultStatementTimeout}

// connectNode opens a connection for a check and names the node on error.
func connectNode(ctx context.Context, n Node, o ConnOptions) (*pgx.Conn, error) {
	conn, err := connect(ctx, n.DSN, o)
	if err != nil {
		return nil, fmt.Errorf("pg: connect to %s: %w", n.Name, err)
	}
	return conn, nil
}

// closeConn closes a connection without waiting long for a frozen server.
func closeConn(conn *pgx.Conn) {
	if conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = conn.Close(ctx)
}

// withDeadline returns ctx bounded by d unless it already has a deadline.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// queryNode runs fn on a fresh connection to n under DefaultQueryTimeout
// (unless ctx has a deadline) and closes the connection.
func queryNode(ctx context.Context, n Node, fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := withDeadline(ctx, DefaultQueryTimeout)
	defer cancel()
	conn, err := connectNode(ctx, n, nodeConnOptions)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	return fn(ctx, conn)
}

// newID returns a random identifier with a readable prefix, e.g. for a run.
func newID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// sqlState returns the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// ignoreDuplicateObject hides the errors two concurrent
// CREATE TABLE IF NOT EXISTS of the same table can raise.
func ignoreDuplicateObject(err error) error {
	switch sqlState(err) {
	case "42P07", "23505": // duplicate_table, unique_violation on pg_type
		return nil
	}
	return err
}

// Outcome is what a client can know about one write.
type Outcome int

// Outcomes of a write attempt.
const (
	// Acknowledged: the commit returned OK.
	Acknowledged Outcome = iota + 1
	// Failed: definitely not committed (the request never reached the
	// server, or the server reported an error that aborts the transaction).
	Failed
	// Indeterminate: the connection was lost or timed out while the
	// commit was in flight; it may or may not have committed.
	Indeterminate
)

var outcomeNames = map[Outcome]string{Acknowledged: "acknowledged", Failed: "failed", Indeterminate: "indeterminate"}

func (o Outcome) String() string {
	if s, ok := outcomeNames[o]; ok {
		return s
	}
	return "unknown"
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Classify maps the error of an autocommit write (its own transaction) to
// its outcome:
//   - nil: Acknowledged.
//   - an error pgx raised before sending anything (pgconn.SafeToRetry):
//     Failed.
//   - a server ERROR (not FATAL/PANIC) outside the connection (08),
//     operator-intervention shutdown (57P), system (58) and internal (XX)
//     classes: Failed, because PostgreSQL aborts the transaction before
//     reporting an ERROR. The excluded classes are also what a pooler
//     reports when the server behind it vanished mid-commit.
//   - anything else (EOF, reset, timeout, FATAL such as 57P01, which a
//     backend can raise after its commit record is flushed): Indeterminate.
func Classify(err error) Outcome {
	if err == nil {
		return Acknowledged
	}
	if pgconn.SafeToRetry(err) {
		return Failed
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.EqualFold(pgErr.Severity, "ERROR") {
		code := pgErr.Code
		switch {
		case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "57P"),
			strings.HasPrefix(code, "58"), strings.HasPrefix(code, "XX"):
			return Indeterminate
		}
		return Failed
	}
	return Indeterminate
}

// ptr returns a pointer to v, for optional report fields.
func ptr[T any](v T) *T { return &v }

// ExecResult is what a statement did.
type ExecResult struct {
	Tag          string // the command tag, e.g. "INSERT 0 1"
	RowsAffected int64
}

// Exec runs one statement on a new connection to dsn.
func Exec(ctx context.Context, dsn, sql string, args ...any) (ExecResult, error) {
	conn, err := connect(ctx, dsn, ConnOptions{})
	if err != nil {
		return ExecResult{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tag, err := conn.Exec(ctx, sql, args...)
	if err != nil {
		return ExecResult{}, err
	}
	return ExecResult{Tag: tag.String(), RowsAffected: tag.RowsAffected()}, nil
}

// Query runs a query on a new connection to dsn and returns every row as a
// map from column name to value. A numeric column comes back as float64
// (nil when NULL), so that callers need no pgx types.
func Query(ctx context.Context, dsn, sql string, args ...any) ([]map[string]any, error) {
	conn, err := connect(ctx, dsn, ConnOptions{})
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	result, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		return nil, err
	}
	for _, row := range result {
		for col, v := range row {
			if n, ok := v.(pgtype.Numeric); ok {
				f, err := n.Float64Value()
				if err != nil {
					return nil, fmt.Errorf("column %s: %w", col, err)
				}
				row[col] = nil
				if f.Valid {
					row[col] = f.Float64
				}
			}
		}
	}
	return result, nil
}
