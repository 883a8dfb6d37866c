//go:build testbed

package all_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The bed's etcd (v2 API) and the leader key of its Patroni cluster (scope
// fileshare-cluster, namespace /service: testbed-entrypoint).
const (
	bedEtcd      = "http://127.0.0.1:12379"
	bedLeaderKey = "/v2/keys/service/fileshare-cluster/leader"
)

// etcdEvent is one answer of an etcd v2 watch.
type etcdEvent struct {
	Action string `json:"action"`
	Node   struct {
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
	at time.Time
}

// etcdKey is the leader key as GET reads it.
type etcdKey struct {
	Node struct {
		Value      string    `json:"value"`
		Expiration time.Time `json:"expiration"`
	} `json:"node"`
}

// lastExpiration reads the leader key every 50 ms while holder holds it,
// and returns a function giving the last expiration time etcd reported
// for it: Patroni renews the key with refresh, which a watch does not see.
func lastExpiration(ctx context.Context, holder string) func() time.Time {
	var mu sync.Mutex
	var last time.Time
	go func() {
		for ctx.Err() == nil {
			var k etcdKey
			if resp, err := http.Get(bedEtcd + bedLeaderKey); err == nil {
				err = json.NewDecoder(resp.Body).Decode(&k)
				resp.Body.Close()
				if err == nil && k.Node.Value == holder {
					mu.Lock()
					last = k.Node.Expiration
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// watchLeaderKey watches the leader key in etcd, from the index after the
// current one, and sends the first event at which holder no longer holds
// it (expired, deleted, or set to another member), dated when the watch
// answered. Other changes by the holder are skipped.
func watchLeaderKey(ctx context.Context, t *testing.T, holder string) <-chan etcdEvent {
	t.Helper()
	resp, err := http.Get(bedEtcd + bedLeaderKey)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	index, err := strconv.ParseUint(resp.Header.Get("X-Etcd-Index"), 10, 64)
	if err != nil {
		t.Fatalf("etcd's X-Etcd-Index: %v", err)
	}
	out := make(chan etcdEvent, 1)
	go func() {
		defer close(out)
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s?wait=true&waitIndex=%d", bedEtcd, bedLeaderKey, index+1), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			var ev etcdEvent
			err = json.NewDecoder(resp.Body).Decode(&ev)
			resp.Body.Close()
			ev.at = time.Now()
			if err != nil || ev.Node.ModifiedIndex == 0 {
				return
			}
			if ev.Action == "expire" || ev.Action == "delete" || ev.Action == "compareAndDelete" || ev.Node.Value != holder {
				out <- ev
				return
			}
			index = ev.Node.ModifiedIndex
		}
	}()
	return out
}

// bedLeader is the leader key's holder in etcd.
func bedLeader(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(bedEtcd + bedLeaderKey)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ev etcdEvent
	if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil || ev.Node.Value == "" {
		t.Fatalf("no leader key in etcd: %v", err)
	}
	return ev.Node.Value
}

// TestRTOPhasesOnTheBed kills the leader's container and checks each phase
// patroni.wait_leader dates against the source it is dated from, read
// independently: leader_key_gone_at against an etcd watch on the leader key
// (which must report an expiry, the key not released, when etcd said the
// last renewal would expire); promoted_at against the mtime of the new timeline's history file
// in the new leader's pg_wal (what Patroni reports) and against Patroni's
// log line; pg_ready_at against PostgreSQL's "ready to accept connections"
// line. The killed container is started again and the bed left healthy.
func TestRTOPhasesOnTheBed(t *testing.T) {
	if sc := runOnBed(t, "cluster.yaml", "steps:\n"+healthy("before")); !sc.Passed() {
		t.Fatal("the bed is not healthy to begin with")
	}
	old := bedLeader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	watch := watchLeaderKey(ctx, t, old)
	expiration := lastExpiration(ctx, old)

	const interval = 100 * time.Millisecond
	sc := runOnBed(t, "cluster.yaml", `steps:
  - id: kill
    kind: compose.kill
    target: leader
    signal: SIGKILL
  - id: failover
    kind: patroni.wait_leader
    changed: true
    interval: 100ms
    timeout: 2m
  - id: promoted
    kind: log.wait
    target: member:${failover.leader}
    after: kill
    pattern: promoted self to leader
    timeout: 30s
  - id: ready
    kind: log.wait
    target: member:${failover.leader}
    after: kill
    pattern: database system is ready to accept connections
    timeout: 30s
  - kind: compose.start
    target: ${kill.service}
`+healthy("after"))
	if !sc.Passed() {
		t.Fatal("the drill did not pass")
	}
	if got := recorded(t, sc, "kill", "member").(string); got != old {
		t.Fatalf("killed %s, but etcd named %s the leader", got, old)
	}
	at := func(step, name string) time.Time { return recorded(t, sc, step, name).(time.Time) }
	num := func(name string) float64 { return recorded(t, sc, "failover", name).(float64) }
	faultAt, goneAt, promotedAt := at("kill", "fault_at"), at("failover", "leader_key_gone_at"), at("failover", "promoted_at")
	seenAt := at("failover", "leader_seen_at")
	// pg_ready_at is measured only when a SQL poll began before PostgreSQL
	// left recovery; the promotion often wins that race by milliseconds.
	readyAt, readyMeasured := lookup(sc, "failover", "pg_ready_at").(time.Time)
	ttl, loopWait := num("ttl"), num("loop_wait")
	t.Logf("fault %s; key gone +%.3f s, promoted +%.3f s, GET /primary +%.3f s; ttl %v loop_wait %v bound_s %v",
		faultAt.Format(time.RFC3339Nano), num("key_gone_s"), num("patroni_rto_s"), num("rto_s"), ttl, loopWait, num("bound_s"))

	// margin is what one REST call and a busy 2-core machine's scheduling
	// may add to either clock reading (seen on a quiet machine: 0.04 s; CI
	// shares the machine with the bed's eight processes).
	const margin = time.Second

	// The key: gone when etcd's watch said so, within one poll and the margin.
	var ev etcdEvent
	select {
	case e, ok := <-watch:
		if !ok {
			t.Fatal("the etcd watch ended without an event")
		}
		ev = e
	case <-ctx.Done():
		t.Fatal("no etcd event")
	}
	t.Logf("etcd: %s of the leader key at +%.3f s; drill saw it gone at +%.3f s", ev.Action, ev.at.Sub(faultAt).Seconds(), goneAt.Sub(faultAt).Seconds())
	if ev.Action != "expire" {
		t.Errorf("etcd: the leader key's event was %q (holder %q), want expire: a killed leader cannot release it", ev.Action, ev.Node.Value)
	}
	if d := goneAt.Sub(ev.at); d < -margin || d > interval+margin {
		t.Errorf("leader_key_gone_at %s is %v from etcd's watch (%s), want within [-%v, %v]", goneAt.Format(time.RFC3339Nano), d, ev.at.Format(time.RFC3339Nano), margin, interval+margin)
	}
	// Expired when etcd said it would after the last renewal (the
	// expiration it reported; it expires keys on a 0.5 s tick), which came
	// before the kill: key_gone_s is at most ttl.
	if exp := expiration(); exp.IsZero() {
		t.Errorf("etcd: no expiration read for the leader key")
	} else if d := ev.at.Sub(exp); d < -margin || d > 500*time.Millisecond+margin {
		t.Errorf("etcd: the key expired %v after the expiration etcd reported (%s), want 0 to 0.5 s", d, exp.Format(time.RFC3339Nano))
	} else {
		t.Logf("etcd: last renewed at +%.3f s (expiration - ttl), expired %.3f s after its expiration", exp.Add(-time.Duration(ttl*float64(time.Second))).Sub(faultAt).Seconds(), d.Seconds())
	}
	if s := num("key_gone_s"); s > ttl+0.5+margin.Seconds() {
		t.Errorf("key_gone_s %.3f, want at most ttl + 0.5 = %v (with a margin of %v)", s, ttl+0.5, margin)
	}
	switch got, measured := lookup(sc, "failover", "election_s").(float64); {
	case !measured && !goneAt.After(promotedAt):
		t.Errorf("election_s not recorded, though the key was seen gone %v before the promotion", promotedAt.Sub(goneAt))
	case !measured:
		t.Logf("election_s not measured this run: the poll that saw the key gone answered %v after the promotion", goneAt.Sub(promotedAt))
	case got != promotedAt.Sub(goneAt).Seconds() || got < 0:
		t.Errorf("election_s %v, want promoted_at - leader_key_gone_at = %v, not negative", got, promotedAt.Sub(goneAt).Seconds())
	}

	// Promotion: Patroni's /history carries the mtime of the newest
	// timeline's history file.
	leader := recorded(t, sc, "failover", "leader").(string)
	newest := inMember(t, leader, "ls /var/lib/postgresql/patroni/data/pg_wal/*.history | sort | tail -n 1")
	mtime := inMember(t, leader, "stat -c %.6Y "+newest)
	secs, err := strconv.ParseFloat(mtime, 64)
	if err != nil {
		t.Fatalf("mtime %q: %v", mtime, err)
	}
	fileAt := time.Unix(0, int64(secs*1e9))
	if d := promotedAt.Sub(fileAt); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("promoted_at %s, %s was written at %s (%v apart), want the same to 1 ms", promotedAt.Format(time.RFC3339Nano), newest, fileAt.Format(time.RFC3339Nano), d)
	}
	// Patroni logs "promoted self to leader" when it has taken the key and
	// started pg_ctl promote: before PostgreSQL writes the history file.
	logAt := at("promoted", "matched_at")
	t.Logf("Patroni's log line at +%.3f s, PostgreSQL's ready line at +%.3f s", logAt.Sub(faultAt).Seconds(), at("ready", "matched_at").Sub(faultAt).Seconds())
	if d := promotedAt.Sub(logAt); d < -margin || d > 5*time.Second {
		t.Errorf("promoted_at is %v after Patroni's log line (%s), want between -%v and 5 s", d, logAt.Format(time.RFC3339Nano), margin)
	}
	// GET /primary answers 200 once Patroni holds the key: no later than a
	// poll after the log line that says it took it.
	if d := seenAt.Sub(logAt); d > interval+margin {
		t.Errorf("leader_seen_at is %v after Patroni's log line, want at most %v", d, interval+margin)
	}

	// PostgreSQL ready: its own log line, then drill's next SQL poll.
	pgLogAt := at("ready", "matched_at")
	switch {
	case !readyMeasured:
		if lookup(sc, "failover", "ready_s") != nil {
			t.Error("ready_s recorded without pg_ready_at")
		}
		t.Logf("pg_ready_at not measured this run (the first SQL poll found PostgreSQL out of recovery); its ready line at +%.3f s", pgLogAt.Sub(faultAt).Seconds())
	default:
		if d := readyAt.Sub(pgLogAt); d < -margin || d > interval+margin {
			t.Errorf("pg_ready_at is %v from PostgreSQL's \"ready to accept connections\" (%s), want within [-%v, %v]", d, pgLogAt.Format(time.RFC3339Nano), margin, interval+margin)
		}
		if got := num("ready_s"); got != readyAt.Sub(promotedAt).Seconds() {
			t.Errorf("ready_s %v, want pg_ready_at - promoted_at = %v", got, readyAt.Sub(promotedAt).Seconds())
		}
	}
	if got := num("bound_s"); got != ttl+loopWait {
		t.Errorf("bound_s %v, want ttl + loop_wait = %v", got, ttl+loopWait)
	}
}
