package patroni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Response bodies as Patroni 3.0.2 sends them (api.py / utils.cluster_as_json).
const (
	cluster302 = `{"members": [
	  {"name": "pg1", "role": "leader", "state": "running", "api_url": "http://10.0.0.1:8008/patroni",
	   "host": "10.0.0.1", "port": 5432, "timeline": 3},
	  {"name": "pg2", "role": "replica", "state": "running", "api_url": "http://10.0.0.2:8008/patroni",
	   "host": "10.0.0.2", "port": 5432, "timeline": 3, "lag": 1048576},
	  {"name": "pg3", "role": "replica", "state": "stopped", "api_url": "http://10.0.0.3:8008/patroni",
	   "host": "10.0.0.3", "port": 5432, "lag": "unknown"}]}`

	patroniPrimary302 = `{"state": "running", "postmaster_start_time": "2024-08-28 19:39:26.352526+00:00",
	  "role": "master", "server_version": 150020, "xlog": {"location": 67395656}, "timeline": 3,
	  "replication": [{"usename": "replicator", "application_name": "pg2", "client_addr": "10.0.0.2",
	    "state": "streaming", "sync_state": "async", "sync_priority": 0}],
	  "dcs_last_seen": 1692356718, "database_system_identifier": "7268616322854375442",
	  "patroni": {"version": "3.0.2", "scope": "fileshare-cluster"}}`

	patroniReplica302 = `{"state": "running", "postmaster_start_time": "2024-08-28 19:39:26.352526+00:00",
	  "role": "replica", "server_version": 150020,
	  "xlog": {"received_location": 67419744, "replayed_location": 67419000, "replayed_timestamp": null, "paused": false},
	  "timeline": 3, "dcs_last_seen": 1692356928, "database_system_identifier": "7268616322854375442",
	  "patroni": {"version": "3.0.2", "scope": "fileshare-cluster"}}`

	// Two lines copied from PostgreSQL's history file, then one promotion
	// Patroni recorded with its time and new leader.
	history302 = `[[1, 25623960, "no recovery target specified"],
	  [2, 25624344, "no recovery target specified", "2019-09-24T09:22:33+02:00"],
	  [3, 50331856, "no recovery target specified", "2024-05-01T10:11:12.123456+00:00", "pg2"]]`

	config302 = `{"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "maximum_lag_on_failover": 1048576,
	  "postgresql": {"use_slots": true, "use_pg_rewind": true, "parameters": {"max_connections": 100}}}`
)

// fake is a Patroni member over httptest that records requests.
type fake struct {
	srv   *httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	calls []string // "METHOD /path body"
}

func newFake(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body string)) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.calls = append(f.calls, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(b)))
		f.mu.Unlock()
		h(w, r, string(b))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) URL() string { return f.srv.URL }

func (f *fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// member302 serves the read endpoints with 3.0.2 bodies.
func member302(w http.ResponseWriter, r *http.Request, _ string) {
	body := map[string]string{
		"/cluster": cluster302, "/patroni": patroniPrimary302, "/history": history302, "/config": config302,
	}[r.URL.Path]
	if body == "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, body)
}

// refusedURL returns a URL on which nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// frozenURL returns a URL whose listener completes TCP handshakes in the
// kernel but never reads: a member whose process is paused.
func frozenURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return "http://" + l.Addr().String()
}

func newClient(t *testing.T, urls []string, opts Options) *Client {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 200 * time.Millisecond
	}
	if opts.ActionTimeout == 0 {
		opts.ActionTimeout = 300 * time.Millisecond
	}
	c, err := New(urls, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClusterParses302(t *testing.T) {
	t.Parallel()
	f := newFake(t, member302)
	c := newClient(t, []string{f.URL()}, Options{})
	cl, err := c.Cluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Members) != 3 {
		t.Fatalf("members = %d, want 3", len(cl.Members))
	}
	if got := cl.LeaderName(); got != "pg1" {
		t.Errorf("LeaderName = %q, want pg1", got)
	}
	pg1, pg2, pg3 := cl.Members[0], cl.Members[1], cl.Members[2]
	if pg1.Lag.Known {
		t.Errorf("leader lag = %+v, want unknown (absent)", pg1.Lag)
	}
	if pg1.Timeline == nil || *pg1.Timeline != 3 || pg1.Port != 5432 || pg1.Host != "10.0.0.1" {
		t.Errorf("pg1 = %+v", pg1)
	}
	if !pg2.Lag.Known || pg2.Lag.Bytes != 1048576 || pg2.Role != RoleReplica {
		t.Errorf("pg2 = %+v", pg2)
	}
	if pg3.Lag.Known || pg3.Timeline != nil || pg3.State != "stopped" {
		t.Errorf("pg3 = %+v, want unknown lag, no timeline", pg3)
	}
}

func TestClusterWithoutLeader(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		io.WriteString(w, `{"members": [{"name": "pg2", "role": "replica", "state": "running", "api_url": "http://x:8008/patroni", "lag": 0}]}`)
	})
	cl, err := newClient(t, []string{f.URL()}, Options{}).Cluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cl.Leader(); ok || cl.LeaderName() != "" {
		t.Errorf("Leader() found one in a leaderless cluster")
	}
	if m := cl.Members[0]; !m.Lag.Known || m.Lag.Bytes != 0 {
		t.Errorf("lag 0 must be known: %+v", m.Lag)
	}
}

func TestClusterFallsBackAndRemembersTheMemberThatAnswered(t *testing.T) {
	t.Parallel()
	good := newFake(t, member302)
	refused, frozen := refusedURL(t), frozenURL(t)
	c := newClient(t, []string{refused, frozen, good.URL()}, Options{})
	start := time.Now()
	if _, err := c.Cluster(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("fallback took %s: the frozen member's timeout did not apply", d)
	}
	if _, err := c.Cluster(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := good.hits.Load(); n != 2 {
		t.Errorf("good member hit %d times, want 2", n)
	}
	if got := c.order()[0]; got != 2 {
		t.Errorf("next call starts with member %d, want 2 (the one that answered)", got)
	}
}

func TestNoMemberAnsweredNamesEachCause(t *testing.T) {
	t.Parallel()
	refused, frozen := refusedURL(t), frozenURL(t)
	broken := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	garbage := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) { io.WriteString(w, "<html>") })
	c := newClient(t, []string{refused, frozen, broken.URL(), garbage.URL()}, Options{})
	_, err := c.Cluster(context.Background())
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{
		"patroni: no member answered GET /cluster (tried ",
		refused + ": connection refused",
		frozen + ": no answer within 200ms",
		broken.URL() + ": GET " + broken.URL() + "/cluster: HTTP 503 Service Unavailable",
		garbage.URL() + ": malformed JSON",
		"check that Patroni runs",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	var nm *NoMemberError
	if !errors.As(err, &nm) || len(nm.Errs) != 4 {
		t.Errorf("want a NoMemberError with 4 causes, got %#v", err)
	}
}

func TestCallerContextStillApplies(t *testing.T) {
	t.Parallel()
	c := newClient(t, []string{frozenURL(t)}, Options{Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Cluster(ctx); err == nil {
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call outlived its context by %s", d)
	}
}

func TestMemberStatus302(t *testing.T) {
	t.Parallel()
	replica := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) { io.WriteString(w, patroniReplica302) })
	primary := newFake(t, member302)
	c := newClient(t, []string{primary.URL()}, Options{})

	p, err := c.Member(context.Background(), primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	if !p.IsPrimary() || p.Role != "master" || p.XLog.Location == nil || *p.XLog.Location != 67395656 {
		t.Errorf("primary = %+v", p)
	}
	if len(p.Replication) != 1 || p.Replication[0].ApplicationName != "pg2" || p.Patroni.Version != "3.0.2" {
		t.Errorf("primary replication/patroni = %+v %+v", p.Replication, p.Patroni)
	}

	r, err := c.Member(context.Background(), replica.URL()+"/patroni") // api_url form works too
	if err != nil {
		t.Fatal(err)
	}
	if r.IsPrimary() || r.XLog.ReceivedLocation == nil || *r.XLog.ReceivedLocation != 67419744 ||
		r.XLog.ReplayedLocation == nil || *r.XLog.ReplayedLocation != 67419000 || r.XLog.ReplayedTimestamp != nil {
		t.Errorf("replica = %+v", r)
	}
	if r.Timeline == nil || *r.Timeline != 3 {
		t.Errorf("replica timeline = %v", r.Timeline)
	}
}

func TestMemberDoesNotFallBack(t *testing.T) {
	t.Parallel()
	good := newFake(t, member302)
	frozen := frozenURL(t)
	c := newClient(t, []string{good.URL(), frozen}, Options{})
	_, err := c.Member(context.Background(), frozen)
	if err == nil || !strings.Contains(err.Error(), "GET "+frozen+"/patroni: no answer within 200ms") {
		t.Errorf("err = %v", err)
	}
	if good.hits.Load() != 0 {
		t.Errorf("Member asked another member")
	}
}

func TestProbeReturnsStatus(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		if r.URL.Path == "/replica" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, patroniPrimary302)
	})
	c := newClient(t, []string{f.URL()}, Options{})
	for check, want := range map[Check]int{CheckPrimary: 200, CheckReplica: 503, CheckHealth: 200} {
		got, err := c.Probe(context.Background(), f.URL(), check)
		if err != nil || got != want {
			t.Errorf("Probe(%s) = %d, %v; want %d", check, got, err, want)
		}
	}
	if _, err := c.Probe(context.Background(), refusedURL(t), CheckHealth); err == nil {
		t.Error("Probe of a dead member: want an error")
	}
}

func TestConfigAndPatch(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if r.Method == http.MethodPatch {
			// Patroni answers with the merged configuration.
			var patch map[string]any
			json.Unmarshal([]byte(body), &patch)
			var cfg map[string]any
			json.Unmarshal([]byte(config302), &cfg)
			for k, v := range patch {
				cfg[k] = v
			}
			json.NewEncoder(w).Encode(cfg)
			return
		}
		io.WriteString(w, config302)
	})
	c := newClient(t, []string{f.URL()}, Options{})
	cfg, err := c.Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TTL == nil || *cfg.TTL != 30 || *cfg.LoopWait != 10 || *cfg.RetryTimeout != 10 || cfg.SynchronousMode != nil {
		t.Errorf("config = %+v", cfg)
	}
	if _, ok := cfg.Raw["postgresql"]; !ok {
		t.Errorf("Raw lacks postgresql: %v", cfg.Raw)
	}
	got, err := c.PatchConfig(context.Background(), map[string]any{"ttl": 10, "loop_wait": 2, "retry_timeout": 4})
	if err != nil {
		t.Fatal(err)
	}
	if *got.TTL != 10 || *got.LoopWait != 2 || *got.RetryTimeout != 4 {
		t.Errorf("patched = %+v", got)
	}
	if err := c.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	want := []string{
		"GET /config",
		`PATCH /config {"loop_wait":2,"retry_timeout":4,"ttl":10}`,
		`PATCH /config {"pause":true}`,
		`PATCH /config {"pause":false}`,
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestPatchConfigRejectedIsNotRetried(t *testing.T) {
	t.Parallel()
	bad := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "Unknown parameter")
	})
	other := newFake(t, member302)
	c := newClient(t, []string{bad.URL(), other.URL()}, Options{})
	_, err := c.PatchConfig(context.Background(), map[string]any{"bogus": 1})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400 Bad Request: Unknown parameter") {
		t.Errorf("err = %v", err)
	}
	if other.hits.Load() != 0 {
		t.Error("a rejected PATCH was sent to another member")
	}
}

func TestSwitchover(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		switch {
		case strings.Contains(body, "scheduled_at"):
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "Switchover scheduled")
		case strings.Contains(body, `"candidate":"pg9"`):
			w.WriteHeader(http.StatusPreconditionFailed)
			io.WriteString(w, "candidate name does not match with sync_standby")
		default:
			io.WriteString(w, `Successfully switched over to "pg2"`)
		}
	})
	c := newClient(t, []string{f.URL()}, Options{})
	ctx := context.Background()

	res, err := c.Switchover(ctx, "pg1", "pg2", nil)
	if err != nil || res.Status != 200 || res.Message != `Successfully switched over to "pg2"` || res.Scheduled() {
		t.Errorf("switchover = %+v, %v", res, err)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err = c.Switchover(ctx, "pg1", "", &at)
	if err != nil || !res.Scheduled() {
		t.Errorf("scheduled switchover = %+v, %v", res, err)
	}
	_, err = c.Switchover(ctx, "pg1", "pg9", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 412 Precondition Failed: candidate name does not match") {
		t.Errorf("rejected switchover err = %v", err)
	}
	if _, err := c.Switchover(ctx, "", "pg2", nil); err == nil {
		t.Error("switchover without a leader: want an error")
	}
	want := []string{
		`POST /switchover {"candidate":"pg2","leader":"pg1"}`,
		`POST /switchover {"leader":"pg1","scheduled_at":"2030-01-02T03:04:05Z"}`,
		`POST /switchover {"candidate":"pg9","leader":"pg1"}`,
	}
	if got := f.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestActionFallsBackOnlyWhenUndelivered(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		io.WriteString(w, `Successfully failed over to "pg2"`)
	})
	// Connection refused: the request never left, the next member gets it.
	c := newClient(t, []string{refusedURL(t), f.URL()}, Options{})
	res, err := c.Failover(context.Background(), "pg2")
	if err != nil || res.Message != `Successfully failed over to "pg2"` {
		t.Fatalf("failover = %+v, %v", res, err)
	}
	// A frozen member may have received it: no second try.
	frozen := frozenURL(t)
	c = newClient(t, []string{frozen, f.URL()}, Options{})
	_, err = c.Failover(context.Background(), "pg2")
	if err == nil || !strings.Contains(err.Error(), "POST /failover on "+frozen+": no answer within 300ms; the request may have been received") {
		t.Errorf("err = %v", err)
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("fake hit %d times, want 1", n)
	}
}

func TestRestartAndReinitResolveMembers(t *testing.T) {
	t.Parallel()
	target := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		io.WriteString(w, "restarted successfully")
	})
	mapped := newFake(t, func(w http.ResponseWriter, r *http.Request, body string) {
		io.WriteString(w, "reinitialize started")
	})
	dcs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		io.WriteString(w, `{"members": [
		  {"name": "pg1", "role": "leader", "state": "running", "api_url": "http://10.255.255.1:8008/patroni"},
		  {"name": "pg2", "role": "replica", "state": "running", "api_url": "`+target.URL()+`/patroni", "lag": 0}]}`)
	})
	c := newClient(t, []string{dcs.URL()}, Options{MemberURLs: map[string]string{"pg1": mapped.URL()}})
	ctx := context.Background()

	res, err := c.Restart(ctx, "pg2", RestartOptions{}) // via api_url
	if err != nil || res.Message != "restarted successfully" {
		t.Errorf("restart = %+v, %v", res, err)
	}
	res, err = c.Reinit(ctx, "pg1", ReinitOptions{Force: true}) // via MemberURLs, never via 10.255.255.1
	if err != nil || res.Message != "reinitialize started" {
		t.Errorf("reinit = %+v, %v", res, err)
	}
	if got := target.Calls(); len(got) != 1 || got[0] != "POST /restart {}" {
		t.Errorf("target calls = %q", got)
	}
	if got := mapped.Calls(); len(got) != 1 || got[0] != `POST /reinitialize {"force":true}` {
		t.Errorf("mapped calls = %q", got)
	}
	_, err = c.Restart(ctx, "pg7", RestartOptions{})
	if err == nil || !strings.Contains(err.Error(), `no member "pg7" in GET /cluster (members: pg1, pg2)`) {
		t.Errorf("unknown member err = %v", err)
	}
}

func TestHistory302(t *testing.T) {
	t.Parallel()
	f := newFake(t, member302)
	h, err := newClient(t, []string{f.URL()}, Options{}).History(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 {
		t.Fatalf("entries = %d, want 3", len(h))
	}
	if h[0].Time != nil || h[0].NewLeader != "" || h[0].Reason != "no recovery target specified" || h[0].LSN != 25623960 {
		t.Errorf("h[0] = %+v", h[0])
	}
	if h[1].Time == nil || !h[1].Time.Equal(time.Date(2019, 9, 24, 7, 22, 33, 0, time.UTC)) || h[1].NewLeader != "" {
		t.Errorf("h[1] = %+v", h[1])
	}
	last, ok := LastPromotion(h)
	if !ok || last.Timeline != 3 || last.NewTimeline() != 4 || last.NewLeader != "pg2" || last.LSN != 50331856 {
		t.Errorf("last = %+v", last)
	}
	if want := time.Date(2024, 5, 1, 10, 11, 12, 123456000, time.UTC); last.Time == nil || !last.Time.Equal(want) {
		t.Errorf("last.Time = %v, want %v", last.Time, want)
	}
}

func TestHistoryRejectsMalformedEntries(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`[[1]]`, `[["x", 1]]`, `[[1, 2, "r", "yesterday"]]`, `[[1, 2, "r", "2024-05-01T10:11:12"]]`} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) { io.WriteString(w, body) })
		_, err := newClient(t, []string{f.URL()}, Options{}).History(context.Background())
		if err == nil || !strings.Contains(err.Error(), "patroni: GET /history: entry 0") {
			t.Errorf("History(%s) err = %v", body, err)
		}
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ string) { io.WriteString(w, `[]`) })
	h, err := newClient(t, []string{f.URL()}, Options{}).History(context.Background())
	if _, ok := LastPromotion(h); err != nil || ok {
		t.Errorf("empty history = %v, %v", h, err)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 8, 28, 19, 39, 26, 352526000, time.UTC)
	for _, s := range []string{
		"2024-08-28T19:39:26.352526+00:00",
		"2024-08-28 19:39:26.352526+00:00",
		"2024-08-28T21:39:26.352526+02:00",
		"2024-08-28T19:39:26.352526Z",
		"2024-08-28T21:39:26.352526+0200",
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseTime("2024-08-28T19:39:26"); err == nil {
		t.Error("a timestamp without offset must be rejected")
	}
}

func TestNewValidatesURLs(t *testing.T) {
	t.Parallel()
	for _, urls := range [][]string{nil, {"127.0.0.1:8008"}, {"ftp://x"}} {
		if _, err := New(urls, Options{}); err == nil {
			t.Errorf("New(%q): want an error", urls)
		}
	}
	c, err := New([]string{"http://h:8008/patroni", "http://h2:8008/"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.URLs(), " "); got != "http://h:8008 http://h2:8008" {
		t.Errorf("URLs = %s", got)
	}
}

// TestCallsLogged: each request to a member is one debug line with the
// method, path, member, status (or error) and duration.
func TestCallsLogged(t *testing.T) {
	t.Parallel()
	f := newFake(t, member302)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	refused := refusedURL(t)
	c := newClient(t, []string{refused, f.URL()}, Options{Logger: log})
	if _, err := c.Cluster(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="patroni GET /cluster" member=` + refused + ` duration=`,
		`level=DEBUG msg="patroni GET /cluster" member=` + f.URL() + ` status=200 duration=`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "connection refused") {
		t.Errorf("the failed call's line has no error:\n%s", out)
	}
}
