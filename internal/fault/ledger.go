// The ledger is drill's on-disk record of the faults it injected and how to
// undo them. An entry is written and flushed before its fault is applied,
// and marked undone after the undo succeeded, so that `drill cleanup` can
// finish the job after drill itself was killed.
//
// Each run appends JSON lines to its own file, <dir>/ledger-<run>.jsonl: an
// "open" record per fault, then a "done" (or "kept") record with the same id.

package fault

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Entry is one fault in the ledger.
type Entry struct {
	ID       int             `json:"id"`
	State    string          `json:"state"` // open, done, kept
	Scenario string          `json:"scenario,omitempty"`
	Step     string          `json:"step,omitempty"`
	Pos      string          `json:"pos,omitempty"`
	Desc     string          `json:"desc,omitempty"`
	Op       string          `json:"op,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	At       time.Time       `json:"at"`
	// File is the ledger file the entry was read from.
	File string `json:"-"`
}

// States of an entry.
const (
	Open = "open"
	Done = "done"
	Kept = "kept"
)

// Ledger is one run's ledger file. Safe for concurrent use.
type Ledger struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	nextID int
}

// Create makes dir if needed and opens a new ledger file for this run.
func Create(dir string) (*Ledger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	stamp := fmt.Sprintf("ledger-%s-%d", time.Now().UTC().Format("20060102T150405.000"), os.Getpid())
	// Two ledgers of one process in the same millisecond get a sequence
	// number rather than failing on the existing file.
	for seq := 0; ; seq++ {
		name := stamp + ".jsonl"
		if seq > 0 {
			name = fmt.Sprintf("%s-%d.jsonl", stamp, seq)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
		if errors.Is(err, os.ErrExist) && seq < 1000 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating the ledger: %w", err)
		}
		return &Ledger{path: path, f: f, nextID: 1}, nil
	}
}

// Path is the ledger file's path.
func (l *Ledger) Path() string { return l.path }

// Open appends an open entry, flushed to disk, and returns it with its id.
func (l *Ledger) Open(e Entry) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID, e.State, e.At = l.nextID, Open, time.Now().UTC()
	l.nextID++
	return e, l.append(e)
}

// Mark appends a state change (Done or Kept) for entry id.
func (l *Ledger) Mark(id int, state string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.append(Entry{ID: id, State: state, At: time.Now().UTC()})
}

func (l *Ledger) append(e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := l.f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("writing the ledger %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("flushing the ledger %s: %w", l.path, err)
	}
	return nil
}

// Close closes the file, and removes it when no fault is left open or kept.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.f.Close(); err != nil {
		return err
	}
	entries, err := readFile(l.path)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return os.Remove(l.path)
	}
	return nil
}

// Pending returns the faults still open or kept in every ledger file of
// dir, newest first: what `drill cleanup` must undo.
func Pending(dir string) ([]Entry, error) {
	files, err := filepath.Glob(filepath.Join(dir, "ledger-*.jsonl"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, f := range files {
		entries, err := readFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// readFile folds a ledger file into the entries not yet done. A torn last
// line (drill killed while writing) is ignored: its fault was not applied
// yet, since the entry is flushed before the fault.
func readFile(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger: %w", err)
	}
	defer f.Close()
	byID := map[int]*Entry{}
	var order []int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue
		}
		if prev, ok := byID[e.ID]; ok {
			prev.State = e.State
			continue
		}
		e.File = path
		byID[e.ID] = &e
		order = append(order, e.ID)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("reading the ledger %s: %w", path, err)
	}
	var out []Entry
	for _, id := range order {
		if e := byID[id]; e.State != Done {
			out = append(out, *e)
		}
	}
	return out, nil
}

// MarkIn appends a state change to the ledger file an entry was read from
// (used by `drill cleanup`), and removes the file once nothing is left open.
func MarkIn(e Entry, state string) error {
	f, err := os.OpenFile(e.File, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("updating the ledger: %w", err)
	}
	// A drill killed mid-write leaves a torn last line without its newline:
	// end it, so that this record starts a line of its own.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return fmt.Errorf("updating the ledger %s: %w", e.File, err)
			}
		}
	}
	l := &Ledger{path: e.File, f: f}
	if err := l.Mark(e.ID, state); err != nil {
		f.Close()
		return err
	}
	if err := l.Close(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
