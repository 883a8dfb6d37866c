package pg

import (
	"context"
	"log/slog"
	"time"
)

// Client gathers the package's entry points as methods, so that step kinds
// can depend on a small interface and tests can give a fake. It holds no
// state: each call connects as the function it calls does. Each call is
// logged at debug level on slog.Default(), with its SQL or its nodes' names
// but never a DSN (it may hold a password), its duration and its error.
type Client struct{}

// logged runs call and logs it as "sql op" at debug level.
func logged[T any](ctx context.Context, op string, attrs []any, call func() (T, error)) (T, error) {
	log := slog.Default()
	if !log.Enabled(ctx, slog.LevelDebug) {
		return call()
	}
	start := time.Now()
	v, err := call()
	log.DebugContext(ctx, "sql "+op, append(attrs, "duration", time.Since(start), "err", err)...)
	return v, err
}

func names(nodes []Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// Exec calls Exec.
func (Client) Exec(ctx context.Context, dsn, sql string, args ...any) (ExecResult, error) {
	return logged(ctx, "exec", []any{"sql", sql}, func() (ExecResult, error) { return Exec(ctx, dsn, sql, args...) })
}

// Query calls Query.
func (Client) Query(ctx context.Context, dsn, sql string, args ...any) ([]map[string]any, error) {
	return logged(ctx, "query", []any{"sql", sql}, func() ([]map[string]any, error) { return Query(ctx, dsn, sql, args...) })
}

// Lag calls Lag.
func (Client) Lag(ctx context.Context, leader Node) (LagReport, error) {
	return logged(ctx, "lag", []any{"leader", leader.Name}, func() (LagReport, error) { return Lag(ctx, leader) })
}

// CatchUp calls CatchUp.
func (Client) CatchUp(ctx context.Context, leader Node, replicas []Node) (CatchUpReport, error) {
	return logged(ctx, "catch up", []any{"leader", leader.Name, "replicas", names(replicas)}, func() (CatchUpReport, error) {
		return CatchUp(ctx, leader, replicas)
	})
}

// Replicated calls Replicated.
func (Client) Replicated(ctx context.Context, leader Node, replicas []Node, timeout time.Duration) (ReplicatedReport, error) {
	return logged(ctx, "replicated", []any{"leader", leader.Name, "replicas", names(replicas), "timeout", timeout}, func() (ReplicatedReport, error) {
		return Replicated(ctx, leader, replicas, timeout)
	})
}

// InsertLoop calls InsertLoop; it is logged when the loop ends.
func (Client) InsertLoop(ctx context.Context, cfg InsertConfig) (InsertReport, error) {
	return logged(ctx, "insert loop", nil, func() (InsertReport, error) { return InsertLoop(ctx, cfg) })
}

// StartWriter calls StartWriter.
func (Client) StartWriter(ctx context.Context, cfg WriterConfig) (*Writer, error) {
	return logged(ctx, "start writer", []any{"rate", cfg.Rate}, func() (*Writer, error) { return StartWriter(ctx, cfg) })
}

// StartReader calls StartReader.
func (Client) StartReader(ctx context.Context, cfg ReaderConfig) (*Reader, error) {
	return logged(ctx, "start reader", []any{"concurrency", cfg.Concurrency, "rate", cfg.Rate}, func() (*Reader, error) { return StartReader(ctx, cfg) })
}

// StartSplitBrainWatcher calls StartSplitBrainWatcher.
func (Client) StartSplitBrainWatcher(ctx context.Context, cfg WatchConfig) (*SplitBrainWatcher, error) {
	return logged(ctx, "start split-brain watcher", []any{"members", names(cfg.Members)}, func() (*SplitBrainWatcher, error) {
		return StartSplitBrainWatcher(ctx, cfg)
	})
}
