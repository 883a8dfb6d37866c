package patroni

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SyncMode is the dynamic configuration's synchronous_mode: off, on, or
// quorum (Patroni 4's quorum commit). Patroni stores a boolean for the first
// two and the string "quorum" for the third; a string "on"/"off" (or
// "true"/"false") written by hand is read as well.
type SyncMode string

// The synchronous modes.
const (
	SyncOff    SyncMode = "off"
	SyncOn     SyncMode = "on"
	SyncQuorum SyncMode = "quorum"
)

// Enabled reports whether synchronous replication is on in any form.
func (m SyncMode) Enabled() bool { return m == SyncOn || m == SyncQuorum }

// UnmarshalJSON accepts false, true, "quorum", and the strings on/off,
// true/false.
func (m *SyncMode) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	mode, err := ParseSyncMode(v)
	if err != nil {
		return err
	}
	*m = mode
	return nil
}

// MarshalJSON writes what Patroni stores: false, true or "quorum".
func (m SyncMode) MarshalJSON() ([]byte, error) {
	switch m {
	case SyncQuorum:
		return []byte(`"quorum"`), nil
	case SyncOn:
		return []byte("true"), nil
	}
	return []byte("false"), nil
}

// ParseSyncMode reads a synchronous_mode value as decoded from JSON or YAML:
// a boolean, or one of the strings quorum, on, off, true, false (any case).
// nil is off, Patroni's default.
func ParseSyncMode(v any) (SyncMode, error) {
	switch v := v.(type) {
	case nil:
		return SyncOff, nil
	case bool:
		if v {
			return SyncOn, nil
		}
		return SyncOff, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "quorum":
			return SyncQuorum, nil
		case "on", "true":
			return SyncOn, nil
		case "off", "false":
			return SyncOff, nil
		}
	}
	return "", fmt.Errorf("synchronous_mode %v: want true, false or \"quorum\"", v)
}
