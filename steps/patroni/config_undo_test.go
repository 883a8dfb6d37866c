package patroni

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestUndoConfigWaitsForTheDCS: right after a DCS outage Patroni drops
// PATCH /config requests (the connection closes without an answer, as
// Patroni 3.0 does while it cannot reach etcd); the undo keeps trying until
// Patroni takes the old values.
func TestUndoConfigWaitsForTheDCS(t *testing.T) {
	var calls atomic.Int32
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || r.URL.Path != "/config" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if calls.Add(1) <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"ttl": 30}`))
	}))
	defer srv.Close()

	args := mustJSON(t, configPatch{URLs: []string{srv.URL}, Patch: map[string]any{"failsafe_mode": nil, "ttl": 30}})
	if err := undoPatroniConfig(t.Context(), nil, args); err != nil {
		t.Fatalf("undo: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("PATCH /config sent %d times, want 3 (two dropped, then accepted)", n)
	}
	if want := `{"failsafe_mode":null,"ttl":30}`; string(mustJSON(t, got)) != want {
		t.Errorf("Patroni got %s, want %s", mustJSON(t, got), want)
	}
}
