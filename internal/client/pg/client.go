package pg

import (
	"context"
	"time"
)

// Client gathers the package's entry points as methods, so that step kinds
// can depend on a small interface and tests can give a fake. It holds no
// state: each call connects as the function it calls does.
type Client struct{}

// Exec calls Exec.
func (Client) Exec(ctx context.Context, dsn, sql string, args ...any) (ExecResult, error) {
	return Exec(ctx, dsn, sql, args...)
}

// Query calls Query.
func (Client) Query(ctx context.Context, dsn, sql string, args ...any) ([]map[string]any, error) {
	return Query(ctx, dsn, sql, args...)
}

// Lag calls Lag.
func (Client) Lag(ctx context.Context, leader Node) (LagReport, error) { return Lag(ctx, leader) }

// CatchUp calls CatchUp.
func (Client) CatchUp(ctx context.Context, leader Node, replicas []Node) (CatchUpReport, error) {
	return CatchUp(ctx, leader, replicas)
}

// Replicated calls Replicated.
func (Client) Replicated(ctx context.Context, leader Node, replicas []Node, timeout time.Duration) (ReplicatedReport, error) {
	return Replicated(ctx, leader, replicas, timeout)
}

// InsertLoop calls InsertLoop.
func (Client) InsertLoop(ctx context.Context, cfg InsertConfig) (InsertReport, error) {
	return InsertLoop(ctx, cfg)
}

// StartWriter calls StartWriter.
func (Client) StartWriter(ctx context.Context, cfg WriterConfig) (*Writer, error) {
	return StartWriter(ctx, cfg)
}

// StartSplitBrainWatcher calls StartSplitBrainWatcher.
func (Client) StartSplitBrainWatcher(ctx context.Context, cfg WatchConfig) (*SplitBrainWatcher, error) {
	return StartSplitBrainWatcher(ctx, cfg)
}
