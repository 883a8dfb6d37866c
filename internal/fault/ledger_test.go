package fault_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/fault"
)

// t0 is the time of the hand-written ledger entries; entry n is at t0+n s.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// rec is one hand-written ledger line.
type rec struct {
	id    int
	state string
	desc  string // only on open records
	at    int    // seconds after t0
}

// line encodes r in the ledger's format: one JSON object per line with
// id, state, scenario, step, pos, desc, op, args and at.
func (r rec) line() string {
	m := map[string]any{"id": r.id, "state": r.state, "at": t0.Add(time.Duration(r.at) * time.Second)}
	if r.state == fault.Open {
		m["scenario"] = "drill"
		m["step"] = "step " + r.desc
		m["pos"] = "drill.yaml:3:5"
		m["desc"] = r.desc
		m["op"] = "test.ledger"
		m["args"] = map[string]string{"name": r.desc}
	}
	data, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// open, done and kept make hand-written records.
func open(id int, desc string, at int) string {
	return rec{id: id, state: fault.Open, desc: desc, at: at}.line()
}
func done(id, at int) string { return rec{id: id, state: fault.Done, at: at}.line() }
func kept(id, at int) string { return rec{id: id, state: fault.Kept, at: at}.line() }

// writeLedger writes the lines (each followed by a newline, except a torn
// last one) to dir/name and returns the path.
func writeLedger(t *testing.T, dir, name string, lines []string, torn string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString(torn)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// summary is what a test compares of Pending's entries: "desc state file".
func summary(entries []fault.Entry) []string {
	out := []string{}
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s %s %s", e.Desc, e.State, filepath.Base(e.File)))
	}
	return out
}

func mustPending(t *testing.T, dir string) []fault.Entry {
	t.Helper()
	entries, err := fault.Pending(dir)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return entries
}

func ledgerFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "ledger-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, f := range files {
		out = append(out, filepath.Base(f))
	}
	return out
}

func TestPending(t *testing.T) {
	t.Parallel()
	type file struct {
		lines []string
		torn  string // a partial last line, without its newline
	}
	tests := []struct {
		name  string
		files map[string]file
		want  []string
	}{
		{
			name:  "an open fault is pending",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{open(1, "pause a", 1)}}},
			want:  []string{"pause a open ledger-a.jsonl"},
		},
		{
			name: "a torn last open line is ignored",
			files: map[string]file{"ledger-a.jsonl": {
				lines: []string{open(1, "pause a", 1)},
				torn:  open(2, "pause b", 2)[:30],
			}},
			want: []string{"pause a open ledger-a.jsonl"},
		},
		{
			name: "a torn done record leaves its fault open",
			files: map[string]file{"ledger-a.jsonl": {
				lines: []string{open(1, "pause a", 1)},
				torn:  `{"id":1,"state":"do`,
			}},
			want: []string{"pause a open ledger-a.jsonl"},
		},
		{
			name:  "a done fault is not pending",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{open(1, "pause a", 1), done(1, 2)}}},
			want:  []string{},
		},
		{
			name:  "a kept fault stays pending",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{open(1, "pause a", 1), kept(1, 2)}}},
			want:  []string{"pause a kept ledger-a.jsonl"},
		},
		{
			name:  "a kept fault undone later is not pending",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{open(1, "pause a", 1), kept(1, 2), done(1, 3)}}},
			want:  []string{},
		},
		{
			name: "only the done one of several goes",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{
				open(1, "pause a", 1), open(2, "pause b", 2), open(3, "pause c", 3), done(2, 4), kept(3, 5),
			}}},
			want: []string{"pause c kept ledger-a.jsonl", "pause a open ledger-a.jsonl"},
		},
		{
			name: "several runs in one state directory, newest first across files",
			files: map[string]file{
				"ledger-1.jsonl": {lines: []string{open(1, "run1 a", 1), open(2, "run1 b", 4), done(2, 5)}},
				"ledger-2.jsonl": {lines: []string{open(1, "run2 a", 2), open(2, "run2 b", 6)}},
				"ledger-3.jsonl": {lines: []string{open(1, "run3 a", 3), kept(1, 7)}},
			},
			want: []string{"run2 b open ledger-2.jsonl", "run3 a kept ledger-3.jsonl", "run2 a open ledger-2.jsonl", "run1 a open ledger-1.jsonl"},
		},
		{
			name: "the same time is ordered by id, highest first",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{
				open(1, "pause a", 1), open(2, "pause b", 1), open(3, "pause c", 1),
			}}},
			want: []string{"pause c open ledger-a.jsonl", "pause b open ledger-a.jsonl", "pause a open ledger-a.jsonl"},
		},
		{
			name: "a later state record keeps the time of the open record",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{
				open(1, "pause a", 1), open(2, "pause b", 2), kept(1, 9),
			}}},
			want: []string{"pause b open ledger-a.jsonl", "pause a kept ledger-a.jsonl"},
		},
		{
			name: "blank lines are ignored",
			files: map[string]file{"ledger-a.jsonl": {lines: []string{
				"", open(1, "pause a", 1), "   ", "", open(2, "pause b", 2),
			}}},
			want: []string{"pause b open ledger-a.jsonl", "pause a open ledger-a.jsonl"},
		},
		{
			name:  "a file with only a torn line has nothing pending",
			files: map[string]file{"ledger-a.jsonl": {torn: `{"id":1,"state":"open","desc":"pa`}},
			want:  []string{},
		},
		{
			name: "files that are not ledgers are ignored",
			files: map[string]file{
				"ledger-a.jsonl": {lines: []string{open(1, "pause a", 1)}},
				"ledger.jsonl":   {lines: []string{open(1, "not a ledger", 2)}},
				"ledger-b.json":  {lines: []string{open(1, "not a ledger either", 3)}},
				"notes.txt":      {lines: []string{"hello"}},
			},
			want: []string{"pause a open ledger-a.jsonl"},
		},
		{
			name:  "an empty directory has nothing pending",
			files: map[string]file{},
			want:  []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, f := range tt.files {
				writeLedger(t, dir, name, f.lines, f.torn)
			}
			got := summary(mustPending(t, dir))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Pending:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPendingEntryFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeLedger(t, dir, "ledger-a.jsonl", []string{open(7, "pause a", 1), kept(7, 2)}, "")
	entries := mustPending(t, dir)
	if len(entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(entries))
	}
	e := entries[0]
	want := fault.Entry{
		ID: 7, State: fault.Kept, Scenario: "drill", Step: "step pause a", Pos: "drill.yaml:3:5", Desc: "pause a",
		Op: "test.ledger", Args: json.RawMessage(`{"name":"pause a"}`), At: t0.Add(time.Second), File: path,
	}
	if e.ID != want.ID || e.State != want.State || e.Scenario != want.Scenario || e.Step != want.Step || e.Pos != want.Pos ||
		e.Desc != want.Desc || e.Op != want.Op || string(e.Args) != string(want.Args) || !e.At.Equal(want.At) || e.File != want.File {
		t.Errorf("entry:\ngot  %+v\nwant %+v", e, want)
	}
}

func TestPendingMissingDir(t *testing.T) {
	t.Parallel()
	entries, err := fault.Pending(filepath.Join(t.TempDir(), "no-such-dir"))
	if err != nil || len(entries) != 0 {
		t.Errorf("Pending of a missing directory: %v, %v; want nothing and no error", entries, err)
	}
}

// TestLedger drives a ledger through its API: what Close leaves on disk and
// what stays pending.
func TestLedger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		open     []string       // descriptions, opened in order (ids 1, 2, ...)
		marks    map[int]string // id -> state, applied in id order
		wantFile bool           // the file is still there after Close
		want     []string       // Pending after Close: "desc state"
	}{
		{name: "no fault: the file is removed", wantFile: false, want: []string{}},
		{name: "done: the file is removed", open: []string{"a"}, marks: map[int]string{1: fault.Done}, wantFile: false, want: []string{}},
		{name: "open: the file stays", open: []string{"a"}, wantFile: true, want: []string{"a open"}},
		{name: "kept: the file stays", open: []string{"a"}, marks: map[int]string{1: fault.Kept}, wantFile: true, want: []string{"a kept"}},
		{
			name: "some done, some left", open: []string{"a", "b", "c"}, marks: map[int]string{1: fault.Done, 3: fault.Kept},
			wantFile: true, want: []string{"c kept", "b open"},
		},
		{
			name: "all done", open: []string{"a", "b", "c"}, marks: map[int]string{1: fault.Done, 2: fault.Done, 3: fault.Done},
			wantFile: false, want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "state", "nested") // Create makes it
			l, err := fault.Create(dir)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(l.Path()) != dir || !strings.HasPrefix(filepath.Base(l.Path()), "ledger-") || !strings.HasSuffix(l.Path(), ".jsonl") {
				t.Errorf("Path() = %s, want %s/ledger-*.jsonl", l.Path(), dir)
			}
			var last time.Time
			for i, desc := range tt.open {
				e, err := l.Open(fault.Entry{Desc: desc, Op: "test.ledger", ID: 99, State: fault.Done})
				if err != nil {
					t.Fatal(err)
				}
				if e.ID != i+1 || e.State != fault.Open || e.At.IsZero() || e.At.Before(last) {
					t.Errorf("Open #%d returned id %d, state %s, at %v; want id %d, open, at or after %v", i+1, e.ID, e.State, e.At, i+1, last)
				}
				last = e.At
			}
			for id := 1; id <= len(tt.open); id++ {
				if st, ok := tt.marks[id]; ok {
					if err := l.Mark(id, st); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Before Close, everything written is already on disk.
			if n := len(mustPending(t, dir)); n != len(tt.want) {
				t.Errorf("before Close, Pending has %d entries, want %d", n, len(tt.want))
			}
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			_, err = os.Stat(l.Path())
			if exists := err == nil; exists != tt.wantFile {
				t.Errorf("after Close the ledger file exists: %v, want %v (%v)", exists, tt.wantFile, err)
			}
			var got []string
			for _, e := range mustPending(t, dir) {
				got = append(got, e.Desc+" "+e.State)
			}
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Pending after Close:\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestLedgerConcurrentOpen: ids are unique and every entry is a whole line
// when steps inject at once.
func TestLedgerConcurrentOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := fault.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	ids := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e, err := l.Open(fault.Entry{Desc: fmt.Sprintf("fault %d", i), Op: "test.ledger"})
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = e.ID
			if i%2 == 0 {
				if err := l.Mark(e.ID, fault.Done); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("ids %v are not 1..%d", ids, n)
		}
	}
	if got := len(mustPending(t, dir)); got != n/2 {
		t.Errorf("Pending has %d entries, want %d", got, n/2)
	}
}

// TestCreateTwice: two ledgers of one process in the same state directory
// (two scenarios of a run, or a scenario's cleanup steps injecting after
// UndoAll closed its first ledger and kept a fault) each get a file, even
// when they are created within the same millisecond.
//
// Known bug: Create names the file ledger-<UTC time to the ms>-<pid>.jsonl
// and opens it with O_EXCL, so the second Create of the same millisecond
// fails with "file exists" and its fault is not injected.
func TestCreateTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var ledgers []*fault.Ledger
	for i := range 10 {
		l, err := fault.Create(dir)
		if err != nil {
			t.Fatalf("Create #%d: %v", i+1, err)
		}
		ledgers = append(ledgers, l)
	}
	for i, l := range ledgers {
		if _, err := l.Open(fault.Entry{Desc: fmt.Sprintf("fault %d", i), Op: "test.ledger"}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(mustPending(t, dir)); got != len(ledgers) {
		t.Errorf("Pending has %d entries, want %d", got, len(ledgers))
	}
}

// TestCreateSequential: runs one after another in the same state directory
// each leave their own file.
func TestCreateSequential(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seen := map[string]bool{}
	for i := range 3 {
		l, err := fault.Create(dir)
		if err != nil {
			t.Fatalf("Create #%d: %v", i+1, err)
		}
		if seen[l.Path()] {
			t.Fatalf("Create #%d reused %s", i+1, l.Path())
		}
		seen[l.Path()] = true
		if _, err := l.Open(fault.Entry{Desc: fmt.Sprintf("fault %d", i), Op: "test.ledger"}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// The next run starts in a later millisecond (see TestCreateTwice).
		for start := time.Now().Truncate(time.Millisecond); !time.Now().Truncate(time.Millisecond).After(start); {
			runtime.Gosched()
		}
	}
	if got := summary(mustPending(t, dir)); len(got) != 3 || len(ledgerFiles(t, dir)) != 3 {
		t.Errorf("Pending %q in files %q; want 3 entries in 3 files", got, ledgerFiles(t, dir))
	}
}

func TestMarkIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		lines    []string
		marks    []string // for each pending entry in Pending's order (newest first): the state to mark
		want     []string // Pending afterwards: "desc state"
		wantFile bool
	}{
		{
			name:  "the last open fault done removes the file",
			lines: []string{open(1, "pause a", 1)}, marks: []string{fault.Done},
			want: []string{}, wantFile: false,
		},
		{
			name:  "a kept fault done removes the file",
			lines: []string{open(1, "pause a", 1), kept(1, 2)}, marks: []string{fault.Done},
			want: []string{}, wantFile: false,
		},
		{
			name:  "one of two done: the file stays",
			lines: []string{open(1, "pause a", 1), open(2, "pause b", 2)}, marks: []string{fault.Done},
			want: []string{"pause a open"}, wantFile: true,
		},
		{
			name:  "both done, newest first: the file goes",
			lines: []string{open(1, "pause a", 1), open(2, "pause b", 2)}, marks: []string{fault.Done, fault.Done},
			want: []string{}, wantFile: false,
		},
		{
			name:  "marked kept: the file stays",
			lines: []string{open(1, "pause a", 1)}, marks: []string{fault.Kept},
			want: []string{"pause a kept"}, wantFile: true,
		},
		{
			name:  "a fault done by the run does not keep the file",
			lines: []string{open(1, "pause a", 1), open(2, "pause b", 2), done(2, 3)}, marks: []string{fault.Done},
			want: []string{}, wantFile: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := writeLedger(t, dir, "ledger-a.jsonl", tt.lines, "")
			entries := mustPending(t, dir)
			if len(entries) < len(tt.marks) {
				t.Fatalf("Pending has %d entries, the test marks %d", len(entries), len(tt.marks))
			}
			for i, st := range tt.marks {
				if err := fault.MarkIn(entries[i], st); err != nil {
					t.Fatalf("MarkIn(%s, %s): %v", entries[i].Desc, st, err)
				}
			}
			got := []string{}
			for _, e := range mustPending(t, dir) {
				got = append(got, e.Desc+" "+e.State)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Pending after MarkIn:\ngot  %q\nwant %q", got, tt.want)
			}
			_, err := os.Stat(path)
			if exists := err == nil; exists != tt.wantFile {
				t.Errorf("the ledger file exists: %v, want %v", exists, tt.wantFile)
			}
		})
	}
}

func TestMarkInMissingFile(t *testing.T) {
	t.Parallel()
	e := fault.Entry{ID: 1, File: filepath.Join(t.TempDir(), "ledger-gone.jsonl")}
	err := fault.MarkIn(e, fault.Done)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MarkIn on a missing file: %v, want an error wrapping os.ErrNotExist", err)
	}
}

// TestMarkInAfterTornLine: drill was killed while writing a line; `drill
// cleanup` then undoes the fault and marks it done. That mark must count:
// the fault must not stay pending, to be undone again by the next cleanup.
//
// Known bug: readFile ignores a torn last line, but MarkIn appends its
// record right after it, on the same line, so the record is torn too and
// lost: the fault stays pending (the next cleanup undoes it again).
func TestMarkInAfterTornLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		torn string
	}{
		{name: "torn done record", torn: `{"id":1,"state":"do`},
		{name: "torn open record", torn: open(2, "pause b", 2)[:25]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := writeLedger(t, dir, "ledger-a.jsonl", []string{open(1, "pause a", 1)}, tt.torn)
			entries := mustPending(t, dir)
			if got := summary(entries); !slices.Equal(got, []string{"pause a open ledger-a.jsonl"}) {
				t.Fatalf("Pending before cleanup: %q", got)
			}
			if err := fault.MarkIn(entries[0], fault.Done); err != nil {
				t.Fatal(err)
			}
			if got := summary(mustPending(t, dir)); len(got) != 0 {
				data, _ := os.ReadFile(path)
				t.Errorf("after MarkIn(done) the fault is still pending: %q\nledger:\n%s", got, data)
			}
		})
	}
}
