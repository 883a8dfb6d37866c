package patroni

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// These tests pin the request bodies and the answers of the Patroni 4
// features that the test bed (Patroni 3.0.2) cannot show: they are the
// shapes of Patroni's api.py (do_POST_restart, do_POST_reinitialize,
// do_POST_reload) and of its configuration.

func TestSyncModeReadsEveryForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json    string
		want    SyncMode
		enabled bool
		err     string
	}{
		{`{"synchronous_mode": false}`, SyncOff, false, ""},
		{`{"synchronous_mode": true}`, SyncOn, true, ""},
		{`{"synchronous_mode": "quorum"}`, SyncQuorum, true, ""},
		{`{"synchronous_mode": "on"}`, SyncOn, true, ""},
		{`{"synchronous_mode": "off"}`, SyncOff, false, ""},
		{`{"synchronous_mode": "Quorum"}`, SyncQuorum, true, ""},
		{`{"synchronous_mode": "maybe"}`, "", false, `synchronous_mode maybe: want true, false or "quorum"`},
		{`{"synchronous_mode": 1}`, "", false, `synchronous_mode 1: want true, false or "quorum"`},
	} {
		var d DynamicConfig
		err := json.Unmarshal([]byte(tc.json), &d)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: err = %v, want %q", tc.json, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.json, err)
			continue
		}
		if d.SynchronousMode == nil || *d.SynchronousMode != tc.want || d.SynchronousMode.Enabled() != tc.enabled {
			t.Errorf("%s: mode = %v", tc.json, d.SynchronousMode)
		}
	}
}

func TestSyncModeWritesWhatPatroniStores(t *testing.T) {
	t.Parallel()
	got, err := json.Marshal(map[string]SyncMode{"a": SyncOff, "b": SyncOn, "c": SyncQuorum})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"a":false,"b":true,"c":"quorum"}` {
		t.Errorf("got %s", got)
	}
}

// config4 is GET /config of a Patroni 4 cluster in quorum mode, with
// settings Patroni 3.0 does not know.
const config4 = `{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 1048576,
  "synchronous_mode": "quorum", "synchronous_node_count": 2, "failsafe_mode": true, "member_slots_ttl": "30min",
  "postgresql": {"use_pg_rewind": true, "parameters": {"max_connections": 100}}}`

func TestConfigOfPatroni4(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if r.Method == http.MethodPatch {
			io.WriteString(w, strings.Replace(config4, `"quorum"`, `true`, 1))
			return
		}
		io.WriteString(w, config4)
	})
	c := newClient(t, []string{f.URL()}, Options{})
	cfg, err := c.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.SynchronousMode != SyncQuorum || *cfg.SynchronousNodeCount != 2 || cfg.Raw["failsafe_mode"] != true || cfg.Raw["member_slots_ttl"] != "30min" {
		t.Errorf("config = %+v, raw %v", cfg, cfg.Raw)
	}
	got, err := c.PatchConfig(context.Background(), map[string]any{"synchronous_mode": SyncOn, "member_slots_ttl": nil})
	if err != nil {
		t.Fatal(err)
	}
	if *got.SynchronousMode != SyncOn {
		t.Errorf("patched = %v", *got.SynchronousMode)
	}
	want := []string{"GET /config", `PATCH /config {"member_slots_ttl":null,"synchronous_mode":true}`}
	if strings.Join(f.Calls(), "\n") != strings.Join(want, "\n") {
		t.Errorf("calls = %q", f.Calls())
	}
}

func TestRestartBodies(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		opts RestartOptions
		want string
	}{
		{RestartOptions{}, "POST /restart {}"},
		{RestartOptions{RestartPending: true}, `POST /restart {"restart_pending":true}`},
		{RestartOptions{Schedule: &at}, `POST /restart {"schedule":"2030-01-02T03:04:05Z"}`},
		{RestartOptions{Role: "primary", PostgresVersion: "17.2", Timeout: 90 * time.Second},
			`POST /restart {"postgres_version":"17.2","role":"primary","timeout":90}`},
	} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
			io.WriteString(w, "restarted successfully")
		})
		c := newClient(t, []string{f.URL()}, Options{MemberURLs: map[string]string{"pg1": f.URL()}})
		if _, err := c.Restart(context.Background(), "pg1", tc.opts); err != nil {
			t.Errorf("%+v: %v", tc.opts, err)
		}
		if got := f.Calls(); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%+v: calls = %q, want %q", tc.opts, got, tc.want)
		}
	}
}

func TestRestartNotMatched(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "restart conditions are not satisfied")
	})
	c := newClient(t, []string{f.URL()}, Options{MemberURLs: map[string]string{"pg1": f.URL()}})
	res, err := c.Restart(context.Background(), "pg1", RestartOptions{RestartPending: true})
	if !NotMatched(err) || res.Status != 503 {
		t.Errorf("res = %+v, err = %v", res, err)
	}
	want := "patroni: POST " + f.URL() + "/restart: HTTP 503 Service Unavailable: restart conditions are not satisfied"
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestReinitFromLeaderAndReload(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.URL.Path == "/reload" {
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "reload scheduled")
			return
		}
		io.WriteString(w, "reinitialize started")
	})
	c := newClient(t, []string{f.URL()}, Options{MemberURLs: map[string]string{"pg2": f.URL()}})
	ctx := context.Background()
	if _, err := c.Reinit(ctx, "pg2", ReinitOptions{FromLeader: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reinit(ctx, "pg2", ReinitOptions{Force: true, FromLeader: true}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Reload(ctx, "pg2")
	if err != nil || res.Status != http.StatusAccepted || res.Message != "reload scheduled" || !res.Scheduled() {
		t.Errorf("reload = %+v, %v", res, err)
	}
	want := []string{
		`POST /reinitialize {"force":false,"from_leader":true}`,
		`POST /reinitialize {"force":true,"from_leader":true}`,
		`POST /reload`,
	}
	if strings.Join(f.Calls(), "\n") != strings.Join(want, "\n") {
		t.Errorf("calls = %q", f.Calls())
	}
}

func TestMemberTagsAndVersion(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		io.WriteString(w, `{"state": "running", "role": "replica", "server_version": 170002,
		  "tags": {"nofailover": true, "failover_priority": 0, "zone": "b"},
		  "patroni": {"version": "4.0.7", "scope": "demo", "name": "pg2"}}`)
	})
	c := newClient(t, []string{f.URL()}, Options{})
	st, err := c.Member(context.Background(), f.URL())
	if err != nil {
		t.Fatal(err)
	}
	if st.Patroni.Version != "4.0.7" || st.ServerVersion != 170002 || st.Tags["nofailover"] != true || st.Tags["failover_priority"] != float64(0) || st.Tags["zone"] != "b" {
		t.Errorf("status = %+v", st)
	}
}
