package steps

import (
	"context"
	"encoding/json"
)

// Fault is a change to the cluster that drill must undo: what it is, and the
// recorded action that undoes it, which `drill cleanup` can replay from the
// ledger after drill itself was killed.
type Fault struct {
	Desc   string // "pause container drill-testbed_postgres-master_1"
	Target string // the service or member
	Undo   Action
	// Keep leaves the fault in place when the run ends; drill prints how to
	// undo it.
	Keep bool
}

// Action is a serialisable undo: an operation registered with RegisterUndo
// and its arguments as JSON.
type Action struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

// FaultLog records faults in the ledger before they are applied.
type FaultLog interface {
	// Inject writes f to the ledger (flushed to disk), then calls apply.
	// The undo stays in the ledger even when apply fails: a half-applied
	// fault is undone too.
	Inject(ctx context.Context, f Fault, apply func(ctx context.Context) error) error
	// Resolved marks as undone the open faults on target whose undo is op:
	// a step that reverses a fault itself (unpause after pause) calls it.
	Resolved(op, target string) error
}

// UndoFunc undoes one fault. It must succeed when the fault is already gone.
type UndoFunc func(ctx context.Context, infra *Infra, args json.RawMessage) error

var undoers = map[string]UndoFunc{}

// RegisterUndo makes an undo operation known to the runner and to
// `drill cleanup`.
func RegisterUndo(op string, fn UndoFunc) {
	if _, dup := undoers[op]; dup {
		panic("steps: undo registered twice: " + op)
	}
	undoers[op] = fn
}

// Undoer returns the undo operation registered as op.
func Undoer(op string) (UndoFunc, bool) {
	fn, ok := undoers[op]
	return fn, ok
}
