package patroni

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HistoryEntry is one line of GET /history: timeline Timeline ended at WAL
// position LSN when NewLeader promoted at Time, starting timeline
// Timeline+1. Patroni adds the time and the new leader only to promotions it
// performed itself; for older lines (copied from PostgreSQL's history file)
// Time is nil and NewLeader empty.
type HistoryEntry struct {
	Timeline  int64
	LSN       uint64
	Reason    string
	Time      *time.Time
	NewLeader string
}

// NewTimeline is the timeline the promotion started.
func (h HistoryEntry) NewTimeline() int64 { return h.Timeline + 1 }

// History returns GET /history from the first member that answers, oldest
// promotion first. The time of the last entry is the promotion record drill
// compares a measured recovery time with.
func (c *Client) History(ctx context.Context) ([]HistoryEntry, error) {
	var raw []json.RawMessage
	if err := c.anyMember(ctx, http.MethodGet, "/history", nil, &raw); err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, 0, len(raw))
	for i, line := range raw {
		e, err := parseHistoryLine(line)
		if err != nil {
			return nil, fmt.Errorf("patroni: GET /history: entry %d %s: %w", i, line, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// LastPromotion returns the newest history entry, if any.
func LastPromotion(h []HistoryEntry) (HistoryEntry, bool) {
	if len(h) == 0 {
		return HistoryEntry{}, false
	}
	return h[len(h)-1], true
}

// parseHistoryLine decodes [timeline, lsn, reason, timestamp?, new_leader?].
func parseHistoryLine(line json.RawMessage) (HistoryEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var f []any
	if err := dec.Decode(&f); err != nil {
		return HistoryEntry{}, err
	}
	if len(f) < 2 {
		return HistoryEntry{}, fmt.Errorf("want at least [timeline, lsn], got %d fields", len(f))
	}
	var e HistoryEntry
	tl, err := number(f[0])
	if err != nil {
		return HistoryEntry{}, fmt.Errorf("timeline: %w", err)
	}
	e.Timeline = int64(tl)
	if e.LSN, err = number(f[1]); err != nil {
		return HistoryEntry{}, fmt.Errorf("lsn: %w", err)
	}
	if len(f) > 2 {
		e.Reason, _ = f[2].(string)
	}
	if len(f) > 3 && f[3] != nil {
		s, ok := f[3].(string)
		if !ok {
			return HistoryEntry{}, fmt.Errorf("timestamp %v: want a string", f[3])
		}
		t, err := ParseTime(s)
		if err != nil {
			return HistoryEntry{}, err
		}
		e.Time = &t
	}
	if len(f) > 4 {
		e.NewLeader, _ = f[4].(string)
	}
	return e, nil
}

func number(v any) (uint64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%v: want a number", v)
	}
	return strconv.ParseUint(n.String(), 10, 64)
}

// timeLayouts are the forms of Python's datetime.isoformat() and str() that
// Patroni writes (with a UTC offset, with or without microseconds).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999Z07",
}

// ParseTime parses a timestamp as Patroni writes it, e.g.
// "2024-05-01T10:11:12.123456+02:00" or "2024-05-01 10:11:12+00:00".
// A timestamp without a UTC offset is rejected: its instant is unknown.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: want ISO 8601 with a UTC offset", s)
}
