package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// JournalVersion is the version of the JSON journal's shape.
const JournalVersion = 1

type journal struct {
	Version  int    `json:"version"`
	Tool     string `json:"tool"`
	ExitCode int    `json:"exit_code"`
	*Run
}

// WriteJSON writes the run as the JSON journal: the whole run, with every
// event, metric and result, and secrets masked before it is encoded.
func WriteJSON(w io.Writer, run *Run, m *Masker) error {
	data, err := json.MarshalIndent(journal{Version: JournalVersion, Tool: "drill", ExitCode: run.ExitCode(), Run: Masked(m, run)}, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the JSON journal: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// ReadJSON reads a JSON journal that WriteJSON wrote (version
// JournalVersion or older). Metric values come back as JSON gives them:
// numbers as float64, times as RFC 3339 strings.
func ReadJSON(r io.Reader) (*Run, error) {
	var j journal
	dec := json.NewDecoder(r)
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("reading the JSON journal: %w", err)
	}
	switch {
	case j.Tool != "drill":
		return nil, fmt.Errorf("not a drill journal (its tool is %q, want \"drill\"): write one with drill run --json", j.Tool)
	case j.Version < 1 || j.Version > JournalVersion:
		return nil, fmt.Errorf("journal version %d: this drill reads versions 1 to %d; use the drill that wrote it", j.Version, JournalVersion)
	case j.Run == nil:
		return nil, fmt.Errorf("the journal holds no run")
	}
	return j.Run, nil
}

// WriteFileAtomic writes a report through a temporary file in the same
// directory and renames it into place, so that a reader never sees half a
// report.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
