// Package faulttest is what the tests of faults share: a Journal that fake
// faults and their undos write to, found again by a key the fault's ledger
// arguments carry (so tests run in parallel without sharing state), and the
// body of a fake undo that can be made to fail.
package faulttest

import (
	"encoding/json"
	"fmt"
	"sync"
)

// Journal is what one test's fake faults did, in order. Safe for
// concurrent use.
type Journal struct {
	mu    sync.Mutex
	lines []string
}

// Add appends a line.
func (j *Journal) Add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, fmt.Sprintf(format, args...))
}

// Lines returns a copy of the lines so far.
func (j *Journal) Lines() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string{}, j.lines...)
}

// Count is how many lines equal line.
func (j *Journal) Count(line string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for _, l := range j.lines {
		if l == line {
			n++
		}
	}
	return n
}

var (
	mu       sync.Mutex
	journals = map[string]*Journal{}
)

// New starts an empty journal under key (a test run again with -count
// starts afresh).
func New(key string) *Journal {
	mu.Lock()
	defer mu.Unlock()
	j := &Journal{}
	journals[key] = j
	return j
}

// Of returns the journal under key, made empty on first use.
func Of(key string) *Journal {
	mu.Lock()
	defer mu.Unlock()
	j, ok := journals[key]
	if !ok {
		j = &Journal{}
		journals[key] = j
	}
	return j
}

// UndoArgs are a fake fault's undo arguments in the ledger.
type UndoArgs struct {
	Journal string `json:"journal"`
	Name    string `json:"name"`
	// Fail makes the undo fail that many times before it succeeds (-1:
	// always).
	Fail int `json:"fail,omitempty"`
}

// Undo is the body of a fake undo: it journals "undo NAME", or "undo NAME
// failed" and an error while Fail says so.
func Undo(raw json.RawMessage) error {
	var a UndoArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return err
	}
	j := Of(a.Journal)
	if a.Fail < 0 || j.Count("undo "+a.Name+" failed") < a.Fail {
		j.Add("undo %s failed", a.Name)
		return fmt.Errorf("undo %s refused", a.Name)
	}
	j.Add("undo %s", a.Name)
	return nil
}
