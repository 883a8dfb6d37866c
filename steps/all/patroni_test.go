package all_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
)

// fakePatroni is a Patroni REST API with two members whose leader changes
// some time after a switchover request, as the real one does. It is for the
// state transitions of the patroni.* kinds; the real cluster is exercised
// by the end-to-end drills.
type fakePatroni struct {
	mu         sync.Mutex
	leader     string
	timeline   int
	promotedAt time.Time
	config     map[string]any
	patches    []map[string]any
	delay      time.Duration // from the switchover request to the old leader's key going (0: before the answer)
	gap        time.Duration // from then to the candidate taking the key and being promoted
}

func (f *fakePatroni) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == "GET" && r.URL.Path == "/cluster":
		var members []map[string]any
		for _, name := range []string{"a", "b"} {
			role := "replica"
			if name == f.leader {
				role = "leader"
			}
			members = append(members, map[string]any{"name": name, "role": role, "state": "running", "api_url": "http://x/patroni", "host": name, "port": 5432, "timeline": f.timeline})
		}
		json.NewEncoder(w).Encode(map[string]any{"members": members})
	case r.Method == "GET" && r.URL.Path == "/history":
		var h [][]any
		if !f.promotedAt.IsZero() {
			h = append(h, []any{f.timeline - 1, 1234, "no recovery target specified", f.promotedAt.Format("2006-01-02T15:04:05.999999-07:00"), f.leader})
		}
		json.NewEncoder(w).Encode(h)
	case r.Method == "POST" && r.URL.Path == "/switchover":
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		promote := func() {
			f.leader, f.promotedAt = body["candidate"], time.Now()
			f.timeline++
		}
		if f.delay == 0 && f.gap == 0 {
			promote()
		} else {
			go func() {
				time.Sleep(f.delay)
				f.mu.Lock()
				f.leader = ""
				f.mu.Unlock()
				time.Sleep(f.gap)
				f.mu.Lock()
				promote()
				f.mu.Unlock()
			}()
		}
		io.WriteString(w, "Successfully switched over to \""+body["candidate"]+"\"")
	case r.URL.Path == "/config" && r.Method == "GET":
		json.NewEncoder(w).Encode(f.config)
	case r.URL.Path == "/config" && r.Method == "PATCH":
		var patch map[string]any
		json.NewDecoder(r.Body).Decode(&patch)
		f.patches = append(f.patches, patch)
		for k, v := range patch {
			if v == nil {
				delete(f.config, k)
			} else {
				f.config[k] = v
			}
		}
		json.NewEncoder(w).Encode(f.config)
	default:
		http.NotFound(w, r)
	}
}

// TestPatroniKinds: a switchover, then wait_leader with changed measures
// rto_s from the switchover to the first poll that sees the new leader, and
// agrees with the promotion time Patroni records; a config patch is a fault
// whose old values come back when the run ends.
func TestPatroniKinds(t *testing.T) {
	fake := &fakePatroni{leader: "a", timeline: 1, delay: 600 * time.Millisecond, config: map[string]any{"ttl": 30.0, "loop_wait": 10.0, "retry_timeout": 10.0}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	res := runScenario(t, fmt.Sprintf(`
name: patroni kinds
cluster:
  patroni: [%s]
steps:
  - id: before
    kind: patroni.status
  - id: cfg
    kind: patroni.config
    set: {ttl: 10, synchronous_mode: true}
  - id: sw
    kind: patroni.switchover
    candidate: b
  - id: wait
    kind: patroni.wait_leader
    changed: true
    interval: 50ms
checks:
  - before.leader == "a" && before.member_count == 2 && before.members_online == 2
  - cfg.ttl == 10 && synchronous_mode && loop_wait == 10
  - sw.leader_before == "a"
  - wait.leader == "b" && wait.timeline == 2
  - rto_s >= 0.6 && rto_s < 1.5
  - within(rto_s, patroni_rto_s, 0.1)
`, srv.URL))
	if !res.Passed() {
		t.Fatal("the scenario did not pass")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.patches) != 2 {
		t.Fatalf("PATCH /config calls: %v, want the patch and its undo", fake.patches)
	}
	if undo := fake.patches[1]; undo["ttl"] != 30.0 || undo["synchronous_mode"] != nil {
		t.Errorf("undo patch = %v, want ttl 30 and synchronous_mode null (absent before)", undo)
	}
	if len(res.Undo) != 1 || res.Undo[0].Status != report.Passed {
		t.Errorf("undo results: %+v", res.Undo)
	}
}

// TestWaitLeaderTimesOut: no new leader within the step's time limit is a
// step error naming the step, and rto_s stays unmeasured.
func TestWaitLeaderTimesOut(t *testing.T) {
	fake := &fakePatroni{leader: "a", timeline: 1, delay: time.Hour, config: map[string]any{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	res := runScenario(t, fmt.Sprintf(`
name: no new leader
cluster:
  patroni: [%s]
steps:
  - kind: patroni.switchover
    candidate: b
  - name: wait for b
    kind: patroni.wait_leader
    changed: true
    timeout: 500ms
checks:
  - rto_s < 60
`, srv.URL))
	st := res.Steps[1]
	if st.Status != report.Error || !strings.Contains(st.Message, `step "wait for b" (test.yaml:8:5) timed out after 500ms`) || !strings.Contains(st.Message, "leader is still a") {
		t.Fatalf("wait_leader: %s %q", st.Status, st.Message)
	}
	if res.Checks[0].Status != report.Skipped {
		t.Errorf("the check after a failed step: %s, want skipped", res.Checks[0].Status)
	}
}

// TestWaitLeaderPhases: the old leader's key is seen gone at the poll after
// it went, election_s runs from then to the promotion, bound_s is ttl +
// loop_wait of the live configuration; pg_ready_at needs a DSN, so it is not
// recorded here. A key already gone at the first poll dates nothing.
func TestWaitLeaderPhases(t *testing.T) {
	fake := &fakePatroni{leader: "a", timeline: 1, delay: 300 * time.Millisecond, gap: 400 * time.Millisecond, config: map[string]any{"ttl": 30.0, "loop_wait": 10.0, "retry_timeout": 10.0}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	res := runScenario(t, fmt.Sprintf(`
name: phases
cluster:
  patroni: [%s]
steps:
  - kind: patroni.switchover
    candidate: b
  - id: wait
    kind: patroni.wait_leader
    changed: true
    interval: 50ms
checks:
  - wait.bound_s == 40 && wait.ttl == 30 && wait.loop_wait == 10 && wait.retry_timeout == 10
  - wait.key_gone_s >= 0.3 && wait.key_gone_s < 0.6
  - wait.election_s > 0.1 && wait.election_s <= 0.4
  - within(wait.key_gone_s + wait.election_s, wait.patroni_rto_s, 0.001)
  - seconds(wait.leader_seen_at - wait.leader_key_gone_at) > 0.1
`, srv.URL))
	if !res.Passed() {
		t.Fatal("the scenario did not pass")
	}
	for _, name := range []string{"pg_ready_at", "ready_s"} {
		if v, ok := metricOf(res, "wait", name); ok {
			t.Errorf("%s recorded (%v) with no DSN to measure it", name, v)
		}
	}

	instant := &fakePatroni{leader: "a", timeline: 1, config: map[string]any{"ttl": 30.0, "loop_wait": 10.0}}
	srv2 := httptest.NewServer(instant)
	defer srv2.Close()
	res = runScenario(t, fmt.Sprintf(`
name: key gone before the first poll
cluster:
  patroni: [%s]
steps:
  - kind: patroni.switchover
    candidate: b
  - id: wait
    kind: patroni.wait_leader
    changed: true
checks:
  - wait.leader == "b" && wait.bound_s == 40
`, srv2.URL))
	if !res.Passed() {
		t.Fatal("the scenario did not pass")
	}
	for _, name := range []string{"leader_key_gone_at", "key_gone_s", "election_s", "retry_timeout"} {
		if v, ok := metricOf(res, "wait", name); ok {
			t.Errorf("%s recorded (%v), but it was not measured", name, v)
		}
	}
	if st := res.Steps[1]; !strings.Contains(st.Log, "already gone at the first poll") || !strings.Contains(st.Log, "rto_s is an upper bound") {
		t.Errorf("wait_leader's log does not say what it could not measure:\n%s", st.Log)
	}
}
