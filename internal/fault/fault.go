// Package fault owns every fault drill injects, from the moment a step asks
// for one until it is undone: the fault record and its serialisable undo
// (Action), the registry of undo operations, the ledger file on disk, the
// per-scenario Log that writes each fault to the ledger before applying it
// and undoes what is left in reverse order, and Replay, which finishes the
// job for `drill cleanup` after drill itself was killed.
//
// The lifecycle of a fault:
//
//  1. A step calls Recorder.Inject with the Fault and a function that
//     applies it. The Log appends an "open" entry to the ledger, flushed to
//     disk, and only then applies the fault. A fault whose apply fails stays
//     open: a half-applied fault is undone too.
//  2. A step that reverses a fault itself (unpause after pause) calls
//     Recorder.Resolved, which marks the matching open faults done.
//  3. When the scenario ends, whatever happened to it, Log.UndoAll runs the
//     registered undo of every open fault, newest first, and marks each done;
//     a fault the scenario keeps is marked kept and left in place.
//  4. After drill was killed, Replay undoes every open or kept entry of the
//     state directory's ledgers, newest first.
package fault

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/drill-dev/drill/internal/platform"
)

// Fault is a change to the cluster that drill must undo: what it is, and the
// recorded action that undoes it.
type Fault struct {
	Desc   string // "pause container drill-testbed_postgres-master_1"
	Target string // the unit or member it hit, matched by Recorder.Resolved
	Undo   Action
	// Keep leaves the fault in place when the run ends; drill prints how to
	// undo it.
	Keep bool
}

// Action is a serialisable undo: an operation registered with Register and
// its arguments as JSON.
type Action struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args"`
}

// NewAction encodes args as an undo of op. It panics when args do not
// encode: undo arguments are plain data, so that is a programming error.
func NewAction(op string, args any) Action {
	raw, err := json.Marshal(args)
	if err != nil {
		panic(fmt.Sprintf("fault: undo arguments of %s do not encode: %v", op, err))
	}
	return Action{Op: op, Args: raw}
}

// Recorder is what a step sees of the ledger.
type Recorder interface {
	// Inject writes f to the ledger (flushed to disk), then calls apply.
	// When the ledger cannot be written, or ctx is already done, the fault
	// is not applied. The undo stays in the ledger even when apply fails.
	// apply runs to its end even when ctx is cancelled meanwhile (Ctrl-C, a
	// guard that tripped); only ctx's deadline cuts it: a fault abandoned
	// half-way (a container still shutting down after its stop call was
	// dropped) could outlive its undo.
	Inject(ctx context.Context, f Fault, apply func(ctx context.Context) error) error
	// Resolved marks as undone the open faults on target whose undo is op.
	Resolved(op, target string) error
}

// Connector gives an undo what it acts on, built from the ledger entry
// alone: the runner passes the scenario's open connections, `drill cleanup`
// fresh ones.
type Connector interface {
	// PlatformAt connects to the platform ref names.
	PlatformAt(ctx context.Context, ref platform.Ref) (platform.Platform, error)
}

// UndoFunc undoes one fault from its ledger arguments. It must succeed when
// the fault is already gone.
type UndoFunc func(ctx context.Context, c Connector, args json.RawMessage) error

var undoers = map[string]UndoFunc{}

// Register makes an undo operation known to the Log and to Replay. It
// panics on a duplicate: a programming error found at start-up.
func Register(op string, fn UndoFunc) {
	if _, dup := undoers[op]; dup {
		panic("fault: undo registered twice: " + op)
	}
	undoers[op] = fn
}

// undo runs the registered undo of a ledger entry.
func undo(ctx context.Context, c Connector, e Entry) error {
	fn, ok := undoers[e.Op]
	if !ok {
		return fmt.Errorf("unknown undo operation %q (was the ledger written by another drill version?)", e.Op)
	}
	return fn(ctx, c, e.Args)
}
