package fault_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/fault/faulttest"
	"github.com/drill-dev/drill/internal/platform"
)

// The undo operations of these tests, registered once. Their arguments name
// the journal of the test that injected the fault, so that tests run in
// parallel without sharing state.
const (
	opUndo    = "test.undo"      // records "undo NAME", or fails when Fail is set
	opUndoAlt = "test.undo.alt"  // the same, under another op name
	opUnknown = "test.undo.none" // never registered
)

func init() {
	fault.Register(opUndo, testUndo)
	fault.Register(opUndoAlt, testUndo)
}

func testUndo(ctx context.Context, c fault.Connector, raw json.RawMessage) error {
	// The connector may fail to connect: these undos act on nothing.
	_, _ = c.PlatformAt(ctx, platform.Ref{})
	return faulttest.Undo(raw)
}

// fakeConn is a Connector that reaches no platform.
type fakeConn struct{}

func (fakeConn) PlatformAt(context.Context, platform.Ref) (platform.Platform, error) {
	return nil, errors.New("no platform in this test")
}

// logTest is one test's Log, journal and events.
type logTest struct {
	t    *testing.T
	dir  string
	key  string
	j    *faulttest.Journal
	log  *fault.Log
	evMu sync.Mutex
	evs  []string
}

func newLogTest(t *testing.T) *logTest {
	t.Helper()
	lt := &logTest{t: t, dir: filepath.Join(t.TempDir(), "state"), key: t.Name()}
	lt.j = faulttest.New(lt.key)
	lt.log = fault.NewLog(lt.dir, "drill", fakeConn{}, func(e fault.Event) {
		lt.evMu.Lock()
		defer lt.evMu.Unlock()
		lt.evs = append(lt.evs, e.Kind+" ["+e.Step+"] "+e.Msg)
	})
	return lt
}

func (lt *logTest) events() []string {
	lt.evMu.Lock()
	defer lt.evMu.Unlock()
	return append([]string{}, lt.evs...)
}

// fault is a fault named name on target name, undone by op.
func (lt *logTest) fault(op, name string, fail int) fault.Fault {
	return fault.Fault{
		Desc:   "pause " + name,
		Target: name,
		Undo:   fault.NewAction(op, faulttest.UndoArgs{Journal: lt.key, Name: name, Fail: fail}),
	}
}

// inject injects f from step and journals "apply NAME".
func (lt *logTest) inject(step string, f fault.Fault) error {
	return lt.log.For(step, "drill.yaml:1:1").Inject(context.Background(), f, func(context.Context) error {
		lt.j.Add("apply %s", f.Target)
		return nil
	})
}

func (lt *logTest) mustInject(step string, f fault.Fault) {
	lt.t.Helper()
	if err := lt.inject(step, f); err != nil {
		lt.t.Fatalf("Inject %s: %v", f.Desc, err)
	}
}

func outcomes(out []fault.Outcome) []string {
	s := []string{}
	for _, o := range out {
		s = append(s, o.Fault+": "+o.State+" ["+o.Step+"]")
	}
	return s
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func pendingDescs(t *testing.T, dir string) []string {
	t.Helper()
	out := []string{}
	for _, e := range mustPending(t, dir) {
		out = append(out, e.Desc+" "+e.State)
	}
	return out
}

func TestUndoAllNewestFirst(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	if files := ledgerFiles(t, lt.dir); len(files) != 0 {
		t.Fatalf("a Log without faults wrote %q", files)
	}
	lt.mustInject("one", lt.fault(opUndo, "a", 0))
	lt.mustInject("two", lt.fault(opUndoAlt, "b", 0))
	lt.mustInject("two", lt.fault(opUndo, "c", 0))
	wantStrings(t, "Open", lt.log.Open(), []string{"pause a", "pause b", "pause c"})
	wantStrings(t, "Pending while the faults are in place", pendingDescs(t, lt.dir), []string{"pause c open", "pause b open", "pause a open"})

	out := lt.log.UndoAll(context.Background())
	wantStrings(t, "outcomes", outcomes(out), []string{"pause c: done [two]", "pause b: done [two]", "pause a: done [one]"})
	for _, o := range out {
		if o.Message != "" || o.At.IsZero() {
			t.Errorf("outcome %+v: want no message and a time", o)
		}
	}
	wantStrings(t, "journal", lt.j.Lines(), []string{"apply a", "apply b", "apply c", "undo c", "undo b", "undo a"})
	wantStrings(t, "events", lt.events(), []string{
		"fault [one] pause a", "fault [two] pause b", "fault [two] pause c",
		"undo [two] pause c: undone", "undo [two] pause b: undone", "undo [one] pause a: undone",
	})
	wantStrings(t, "Open after UndoAll", lt.log.Open(), []string{})
	wantStrings(t, "Pending after UndoAll", pendingDescs(t, lt.dir), []string{})
	wantStrings(t, "ledger files after UndoAll", ledgerFiles(t, lt.dir), []string{})
	if again := lt.log.UndoAll(context.Background()); len(again) != 0 {
		t.Errorf("a second UndoAll: %q, want nothing", outcomes(again))
	}
}

// TestInjectWritesBeforeApply: when apply runs, the fault is already in the
// ledger on disk, with everything Replay needs.
func TestInjectWritesBeforeApply(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	f := lt.fault(opUndo, "a", 0)
	var seen []fault.Entry
	err := lt.log.For("stop a", "drill.yaml:7:5").Inject(context.Background(), f, func(context.Context) error {
		seen = mustPending(t, lt.dir)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 {
		t.Fatalf("apply saw %d ledger entries, want 1", len(seen))
	}
	e := seen[0]
	if e.ID != 1 || e.State != fault.Open || e.Scenario != "drill" || e.Step != "stop a" || e.Pos != "drill.yaml:7:5" ||
		e.Desc != "pause a" || e.Op != opUndo || string(e.Args) != string(f.Undo.Args) || e.At.IsZero() {
		t.Errorf("the entry apply saw: %+v", e)
	}
	lt.log.UndoAll(context.Background())
}

func TestKeep(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	kept := lt.fault(opUndo, "a", 0)
	kept.Keep = true
	lt.mustInject("one", kept)
	lt.mustInject("two", lt.fault(opUndo, "b", 0))

	out := lt.log.UndoAll(context.Background())
	wantStrings(t, "outcomes", outcomes(out), []string{"pause b: done [two]", "pause a: kept [one]"})
	if len(out) == 2 {
		if want := "drill cleanup --state-dir " + lt.dir; !strings.Contains(out[1].Message, want) {
			t.Errorf("the kept fault's message %q does not say %q", out[1].Message, want)
		}
	}
	wantStrings(t, "journal", lt.j.Lines(), []string{"apply a", "apply b", "undo b"})
	wantStrings(t, "Pending", pendingDescs(t, lt.dir), []string{"pause a kept"})
	if files := ledgerFiles(t, lt.dir); len(files) != 1 {
		t.Errorf("ledger files %q, want the one holding the kept fault", files)
	}

	// drill cleanup undoes it.
	out, err := fault.Replay(context.Background(), lt.dir, fakeConn{})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "Replay", outcomes(out), []string{"pause a: done [one]"})
	wantStrings(t, "journal after Replay", lt.j.Lines(), []string{"apply a", "apply b", "undo b", "undo a"})
	wantStrings(t, "Pending after Replay", pendingDescs(t, lt.dir), []string{})
	wantStrings(t, "ledger files after Replay", ledgerFiles(t, lt.dir), []string{})
}

func TestResolved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		op, target     string
		wantOpen       []string
		wantEvents     []string // the events Resolved emits
		wantJournalEnd []string // the undos UndoAll runs
	}{
		{
			name: "op and target match", op: opUndo, target: "a",
			wantOpen:       []string{"pause b", "pause a"},
			wantEvents:     []string{"undo [unpause] pause a: undone by the step"},
			wantJournalEnd: []string{"undo a", "undo b"},
		},
		{
			name: "another target", op: opUndo, target: "z",
			wantOpen:       []string{"pause a", "pause b", "pause a"},
			wantJournalEnd: []string{"undo a", "undo b", "undo a"},
		},
		{
			name: "the same target under another op", op: opUndoAlt, target: "a",
			wantOpen:       []string{"pause a", "pause b"},
			wantEvents:     []string{"undo [unpause] pause a: undone by the step"},
			wantJournalEnd: []string{"undo b", "undo a"},
		},
		{
			name: "another op on every target", op: opUnknown, target: "b",
			wantOpen:       []string{"pause a", "pause b", "pause a"},
			wantJournalEnd: []string{"undo a", "undo b", "undo a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lt := newLogTest(t)
			lt.mustInject("pause", lt.fault(opUndo, "a", 0))
			lt.mustInject("pause", lt.fault(opUndo, "b", 0))
			lt.mustInject("pause", lt.fault(opUndoAlt, "a", 0))
			if err := lt.log.For("unpause", "drill.yaml:9:5").Resolved(tt.op, tt.target); err != nil {
				t.Fatalf("Resolved: %v", err)
			}
			wantStrings(t, "Open after Resolved", lt.log.Open(), tt.wantOpen)
			var open []string
			for _, d := range slices.Backward(tt.wantOpen) {
				open = append(open, d+" open")
			}
			wantStrings(t, "Pending after Resolved", pendingDescs(t, lt.dir), open)
			evs := lt.events()[3:]
			if tt.wantEvents == nil {
				tt.wantEvents = []string{}
			}
			wantStrings(t, "events of Resolved", evs, tt.wantEvents)
			lt.log.UndoAll(context.Background())
			wantStrings(t, "undos", lt.j.Lines()[3:], tt.wantJournalEnd)
			wantStrings(t, "Pending after UndoAll", pendingDescs(t, lt.dir), []string{})
		})
	}
}

func TestResolvedWithoutFaults(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	if err := lt.log.For("unpause", "drill.yaml:1:1").Resolved(opUndo, "a"); err != nil {
		t.Fatalf("Resolved before any fault: %v", err)
	}
	wantStrings(t, "events", lt.events(), []string{})
	if out := lt.log.UndoAll(context.Background()); len(out) != 0 {
		t.Errorf("UndoAll: %q", outcomes(out))
	}
}

func TestUndoFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		op          string
		fail        int
		wantMessage []string // the Open outcome's message contains each
		wantReplay  string   // the state of the fault after one Replay
	}{
		{
			name: "the undo fails", op: opUndo, fail: 1,
			wantMessage: []string{"could not undo: undo a refused", "drill cleanup --state-dir "},
			wantReplay:  fault.Done,
		},
		{
			name: "the undo always fails", op: opUndo, fail: -1,
			wantMessage: []string{"undo a refused", "drill cleanup --state-dir "},
			wantReplay:  fault.Open,
		},
		{
			name: "unknown undo operation", op: opUnknown,
			wantMessage: []string{`unknown undo operation "test.undo.none"`, "drill cleanup"},
			wantReplay:  fault.Open,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lt := newLogTest(t)
			lt.mustInject("one", lt.fault(opUndo, "b", 0))
			lt.mustInject("two", lt.fault(tt.op, "a", tt.fail))
			out := lt.log.UndoAll(context.Background())
			wantStrings(t, "outcomes", outcomes(out), []string{"pause a: open [two]", "pause b: done [one]"})
			if len(out) > 0 {
				for _, w := range tt.wantMessage {
					if !strings.Contains(out[0].Message, w) {
						t.Errorf("message %q does not contain %q", out[0].Message, w)
					}
				}
				if !strings.Contains(out[0].Message, lt.dir) {
					t.Errorf("message %q does not name the state directory %s", out[0].Message, lt.dir)
				}
			}
			evs := lt.events()
			if last := evs[len(evs)-2]; !strings.HasPrefix(last, "undo [two] pause a: NOT undone: ") {
				t.Errorf("event of the failed undo: %q", last)
			}
			wantStrings(t, "Pending", pendingDescs(t, lt.dir), []string{"pause a open"})

			out, err := fault.Replay(context.Background(), lt.dir, fakeConn{})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].State != tt.wantReplay || (tt.wantReplay == fault.Open) != (out[0].Message != "") {
				t.Errorf("Replay: %+v, want one outcome %s", out, tt.wantReplay)
			}
			if tt.wantReplay == fault.Done {
				wantStrings(t, "Pending after Replay", pendingDescs(t, lt.dir), []string{})
				wantStrings(t, "ledger files after Replay", ledgerFiles(t, lt.dir), []string{})
			} else {
				wantStrings(t, "Pending after Replay", pendingDescs(t, lt.dir), []string{"pause a open"})
			}
		})
	}
}

// TestApplyFails: a fault whose apply fails may be half applied: it stays
// open and is undone.
func TestApplyFails(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	boom := errors.New("docker said no")
	f := lt.fault(opUndo, "a", 0)
	err := lt.log.For("one", "drill.yaml:1:1").Inject(context.Background(), f, func(context.Context) error {
		lt.j.Add("apply a failed")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Inject: %v, want the apply error", err)
	}
	wantStrings(t, "Open", lt.log.Open(), []string{"pause a"})
	wantStrings(t, "Pending", pendingDescs(t, lt.dir), []string{"pause a open"})
	out := lt.log.UndoAll(context.Background())
	wantStrings(t, "outcomes", outcomes(out), []string{"pause a: done [one]"})
	wantStrings(t, "journal", lt.j.Lines(), []string{"apply a failed", "undo a"})
}

// TestInjectUnwritable: when the ledger cannot be written, the fault is not
// applied and there is nothing to undo.
func TestInjectUnwritable(t *testing.T) {
	t.Parallel()
	// A state directory below a regular file cannot be made, even as root.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var events []fault.Event
	log := fault.NewLog(filepath.Join(file, "state"), "drill", fakeConn{}, func(e fault.Event) { events = append(events, e) })
	applied := false
	err := log.For("one", "drill.yaml:1:1").Inject(context.Background(), fault.Fault{
		Desc: "pause a", Target: "a", Undo: fault.NewAction(opUndo, faulttest.UndoArgs{Journal: t.Name(), Name: "a"}),
	}, func(context.Context) error {
		applied = true
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "not injecting pause a") {
		t.Errorf("Inject: %v, want an error saying the fault is not injected", err)
	}
	if applied {
		t.Error("the fault was applied without a ledger entry")
	}
	if len(log.Open()) != 0 || len(events) != 0 {
		t.Errorf("Open %q, events %v: want nothing", log.Open(), events)
	}
	if out := log.UndoAll(context.Background()); len(out) != 0 {
		t.Errorf("UndoAll: %q, want nothing", outcomes(out))
	}
	wantStrings(t, "journal", faulttest.Of(t.Name()).Lines(), []string{})
}

// TestReplayAfterCrash: drill was killed with faults in place (UndoAll never
// ran); drill cleanup undoes them newest first, across the ledgers of two
// runs, and a second cleanup finds nothing.
func TestReplayAfterCrash(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	lt.mustInject("one", lt.fault(opUndo, "a", 0))
	lt.mustInject("two", lt.fault(opUndoAlt, "b", 0))
	kept := lt.fault(opUndo, "c", 0)
	kept.Keep = true
	lt.mustInject("two", kept)
	// An earlier run, also killed, left a fault in its own ledger.
	writeLedger(t, lt.dir, "ledger-00000000T000000.000-1.jsonl", []string{rec{id: 1, state: fault.Open, desc: "old", at: -1e9}.line()}, "")
	// Its op is test.ledger, which nobody registered: it stays for later.

	out, err := fault.Replay(context.Background(), lt.dir, fakeConn{})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "Replay", outcomes(out), []string{"pause c: done [two]", "pause b: done [two]", "pause a: done [one]", "old: open [step old]"})
	wantStrings(t, "journal", lt.j.Lines(), []string{"apply a", "apply b", "apply c", "undo c", "undo b", "undo a"})
	wantStrings(t, "Pending", pendingDescs(t, lt.dir), []string{"old open"})
	wantStrings(t, "ledger files", ledgerFiles(t, lt.dir), []string{"ledger-00000000T000000.000-1.jsonl"})

	out, err = fault.Replay(context.Background(), lt.dir, fakeConn{})
	if err != nil {
		t.Fatal(err)
	}
	wantStrings(t, "second Replay", outcomes(out), []string{"old: open [step old]"})
	wantStrings(t, "journal after the second Replay", lt.j.Lines()[6:], []string{})

	if err := os.Remove(filepath.Join(lt.dir, "ledger-00000000T000000.000-1.jsonl")); err != nil {
		t.Fatal(err)
	}
	out, err = fault.Replay(context.Background(), lt.dir, fakeConn{})
	if err != nil || len(out) != 0 {
		t.Errorf("Replay of a clean state directory: %q, %v; want nothing", outcomes(out), err)
	}
}

// TestConcurrentInject: steps injecting at once (parallel branches) each get
// their entry; UndoAll undoes them all.
func TestConcurrentInject(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("f%02d", i)
			if err := lt.inject("step "+name, lt.fault(opUndo, name, 0)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(lt.log.Open()); got != n {
		t.Fatalf("Open has %d faults, want %d", got, n)
	}
	if got := len(mustPending(t, lt.dir)); got != n {
		t.Fatalf("Pending has %d entries, want %d", got, n)
	}
	// Newest first: the reverse of the order the ledger recorded.
	newestFirst := slices.Clone(lt.log.Open())
	slices.Reverse(newestFirst)
	out := lt.log.UndoAll(context.Background())
	var got []string
	for _, o := range out {
		if o.State != fault.Done {
			t.Errorf("outcome %+v", o)
		}
		got = append(got, o.Fault)
	}
	wantStrings(t, "outcomes", got, newestFirst)
	var undone []string
	for _, l := range lt.j.Lines() {
		if name, ok := strings.CutPrefix(l, "undo "); ok {
			undone = append(undone, "pause "+name)
		}
	}
	wantStrings(t, "undo order", undone, newestFirst)
	wantStrings(t, "Pending after UndoAll", pendingDescs(t, lt.dir), []string{})
}

// TestKeepEvent: the timeline says what became of a kept fault, as it does
// for every undone one.
//
// Known bug: in Log.UndoAll the Kept case appends its outcome and
// continues before l.events is called, so a kept fault has no "undo" event
// (describe's "kept" word is never used) and the JSON journal's timeline
// does not mention it.
func TestKeepEvent(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	f := lt.fault(opUndo, "a", 0)
	f.Keep = true
	lt.mustInject("one", f)
	lt.log.UndoAll(context.Background())
	evs := lt.events()
	if len(evs) != 2 || !strings.HasPrefix(evs[1], "undo [one] pause a: kept") {
		t.Errorf("events %q, want the fault event then %q", evs, "undo [one] pause a: kept: ...")
	}
}

// TestInjectCancelled: a fault whose step is cancelled while it is applied
// (Ctrl-C, a guard that tripped) is applied to its end, so that its undo
// finds it whole; a step already cancelled injects nothing.
func TestInjectCancelled(t *testing.T) {
	t.Parallel()
	lt := newLogTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	applying, finish := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- lt.log.For("stop", "drill.yaml:1:1").Inject(ctx, lt.fault(opUndo, "a", 0), func(actx context.Context) error {
			close(applying)
			<-finish
			if actx.Err() != nil {
				return fmt.Errorf("apply's context ended: %w", actx.Err())
			}
			lt.j.Add("apply a")
			return nil
		})
	}()
	<-applying
	cancel()
	close(finish)
	if err := <-done; err != nil {
		t.Fatalf("Inject: %v, want the fault applied to its end", err)
	}
	err := lt.log.For("stop", "drill.yaml:2:1").Inject(ctx, lt.fault(opUndo, "b", 0), func(context.Context) error {
		lt.j.Add("apply b")
		return nil
	})
	if err == nil || !errors.Is(err, context.Canceled) || err.Error() != "not injecting pause b: context canceled" {
		t.Errorf("Inject after the cancel: %v", err)
	}
	lt.log.UndoAll(context.Background())
	wantStrings(t, "journal", lt.j.Lines(), []string{"apply a", "undo a"})
}
