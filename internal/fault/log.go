package fault

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Log is one scenario run's view of the ledger: it writes each fault before
// it is applied and undoes what is still open when the scenario ends. The
// ledger file is created on the first fault, so a scenario without faults
// leaves nothing on disk. Safe for concurrent use.
type Log struct {
	dir      string
	scenario string
	conn     Connector
	events   func(Event)

	mu     sync.Mutex
	ledger *Ledger
	open   []openFault
}

type openFault struct {
	entry Entry
	fault Fault
}

// Event is something the Log did, for the run's timeline.
type Event struct {
	Kind string // "fault" when a fault is injected, "undo" when one is undone
	Step string // the step that injected it
	Msg  string
}

// Outcome is what became of one fault at the end of a run or in a Replay.
type Outcome struct {
	Fault string // its description
	Step  string
	State string // Done (undone), Kept (left in place), or Open (the undo failed)
	// Message says what to do next when the fault is kept or still open.
	Message string
	At      time.Time
}

// NewLog returns the Log of one scenario run. dir is the state directory,
// conn gives the undos their platforms, events (may be nil) receives what
// the Log does.
func NewLog(dir, scenario string, conn Connector, events func(Event)) *Log {
	if events == nil {
		events = func(Event) {}
	}
	return &Log{dir: dir, scenario: scenario, conn: conn, events: events}
}

// For returns the Recorder one step uses; step and pos name it in the
// ledger.
func (l *Log) For(step, pos string) Recorder { return stepRecorder{log: l, step: step, pos: pos} }

type stepRecorder struct {
	log       *Log
	step, pos string
}

var _ Recorder = stepRecorder{}

// Inject writes the fault to the ledger, flushed, then applies it.
func (s stepRecorder) Inject(ctx context.Context, f Fault, apply func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("not injecting %s: %w", f.Desc, err)
	}
	l := s.log
	l.mu.Lock()
	if l.ledger == nil {
		led, err := Create(l.dir)
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("not injecting %s: %w", f.Desc, err)
		}
		l.ledger = led
	}
	entry, err := l.ledger.Open(Entry{
		Scenario: l.scenario, Step: s.step, Pos: s.pos,
		Desc: f.Desc, Op: f.Undo.Op, Args: f.Undo.Args,
	})
	if err != nil {
		l.mu.Unlock()
		return fmt.Errorf("not injecting %s: %w", f.Desc, err)
	}
	l.open = append(l.open, openFault{entry: entry, fault: f})
	l.mu.Unlock()
	l.events(Event{Kind: "fault", Step: s.step, Msg: f.Desc})
	applyCtx := context.WithoutCancel(ctx)
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		applyCtx, cancel = context.WithDeadline(applyCtx, deadline)
		defer cancel()
	}
	return apply(applyCtx)
}

// Resolved marks the open faults on target whose undo is op as done.
func (s stepRecorder) Resolved(op, target string) error {
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	var kept []openFault
	for _, o := range l.open {
		if o.fault.Undo.Op == op && o.fault.Target == target {
			if err := l.ledger.Mark(o.entry.ID, Done); err != nil {
				return err
			}
			l.events(Event{Kind: "undo", Step: s.step, Msg: o.fault.Desc + ": undone by the step"})
			continue
		}
		kept = append(kept, o)
	}
	l.open = kept
	return nil
}

// Open lists the descriptions of the faults still open, oldest first.
func (l *Log) Open() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.open))
	for i, o := range l.open {
		out[i] = o.fault.Desc
	}
	return out
}

// UndoAll undoes every open fault, newest first, under ctx, and closes the
// ledger file (removed when nothing is left in it). A fault the scenario
// keeps is marked kept and left in place. An undo that fails leaves its
// entry open for `drill cleanup`.
func (l *Log) UndoAll(ctx context.Context) []Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Outcome
	for i := len(l.open) - 1; i >= 0; i-- {
		o := l.open[i]
		oc := Outcome{Fault: o.fault.Desc, Step: o.entry.Step, At: time.Now()}
		switch {
		case o.fault.Keep:
			oc.State = Kept
			oc.Message = fmt.Sprintf("kept in place as the scenario asks; undo it with: drill cleanup --state-dir %s", l.dir)
			if err := l.ledger.Mark(o.entry.ID, Kept); err != nil {
				oc.State, oc.Message = Open, err.Error()
			}
			out = append(out, oc)
			l.events(Event{Kind: "undo", Step: o.entry.Step, Msg: describe(oc)})
			continue
		}
		if err := undo(ctx, l.conn, o.entry); err != nil {
			oc.State, oc.Message = Open, fmt.Sprintf("could not undo: %v; the fault is still in the ledger: run drill cleanup --state-dir %s", err, l.dir)
		} else if err := l.ledger.Mark(o.entry.ID, Done); err != nil {
			oc.State, oc.Message = Open, err.Error()
		} else {
			oc.State = Done
		}
		out = append(out, oc)
		l.events(Event{Kind: "undo", Step: o.entry.Step, Msg: describe(oc)})
	}
	l.open = nil
	if l.ledger != nil {
		if err := l.ledger.Close(); err != nil {
			out = append(out, Outcome{Fault: "ledger", State: Open, Message: err.Error(), At: time.Now()})
		}
		l.ledger = nil
	}
	return out
}

// describe is an outcome for the timeline: "pause x: undone".
func describe(o Outcome) string {
	word := map[string]string{Done: "undone", Kept: "kept", Open: "NOT undone"}[o.State]
	if o.Message != "" && o.State != Done {
		return o.Fault + ": " + word + ": " + o.Message
	}
	return o.Fault + ": " + word
}

// Replay undoes every fault left open or kept in the ledgers of dir (after
// drill was killed, or to undo kept faults), newest first, and marks each
// done. An entry whose undo fails stays for the next Replay.
func Replay(ctx context.Context, dir string, conn Connector) ([]Outcome, error) {
	entries, err := Pending(dir)
	if err != nil {
		return nil, err
	}
	var out []Outcome
	for _, e := range entries {
		oc := Outcome{Fault: e.Desc, Step: e.Step, At: time.Now(), State: Done}
		if err := undo(ctx, conn, e); err != nil {
			oc.State, oc.Message = Open, err.Error()
		} else if err := MarkIn(e, Done); err != nil {
			oc.State, oc.Message = Open, err.Error()
		}
		out = append(out, oc)
	}
	return out, nil
}
