package pg

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unreachable is a node on which nothing listens.
func unreachable(t *testing.T) Node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	return Node{Name: "ghost", DSN: "host=127.0.0.1 user=postgres sslmode=disable port=" + strconv.Itoa(addr.Port)}
}

// frozen is a node whose kernel accepts connections that nobody serves.
func frozen(t *testing.T) Node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return Node{Name: "frozen", DSN: "host=127.0.0.1 user=postgres sslmode=disable port=" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)}
}

func TestStatus(t *testing.T) {
	s, err := Status(t.Context(), primary)
	if err != nil {
		t.Fatal(err)
	}
	if s.VersionNum < 150000 || !strings.HasPrefix(s.Version, "15") || s.InRecovery || s.Connections < 1 || s.MaxConnections != 100 {
		t.Errorf("primary status = %+v", s)
	}
	r, err := Status(t.Context(), replica)
	if err != nil {
		t.Fatal(err)
	}
	if !r.InRecovery {
		t.Errorf("replica status = %+v, want in recovery", r)
	}
	_, err = Status(t.Context(), unreachable(t))
	if err == nil || !strings.Contains(err.Error(), "pg: status of ghost: pg: connect to ghost") {
		t.Errorf("err = %v", err)
	}
}

func TestConnectNeverStallsOnAFrozenServer(t *testing.T) {
	n := frozen(t)
	start := time.Now()
	_, err := Connect(t.Context(), n.DSN, ConnOptions{ConnectTimeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Connect took %s", d)
	}
	start = time.Now()
	if _, err := Lag(context.Background(), n); err == nil { // no deadline: DefaultConnectTimeout applies
		t.Fatal("want an error")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Lag took %s", d)
	}
}

func TestLag(t *testing.T) {
	exec(t, primary, `CREATE TABLE IF NOT EXISTS lag_t AS SELECT g FROM generate_series(1, 1000) g`)
	if _, err := WaitCatchUp(t.Context(), primary, []Node{replica}, 10*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	r, err := Lag(t.Context(), primary)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Standbys) != 1 {
		t.Fatalf("standbys = %+v, want replica1 only", r.Standbys)
	}
	s := r.Standbys[0]
	if s.ApplicationName != "replica1" || s.State != "streaming" || s.SyncState != "async" || s.ClientAddr != "127.0.0.1" {
		t.Errorf("standby = %+v", s)
	}
	if s.ReplayLagBytes == nil || s.SentLagBytes == nil || *s.ReplayLagBytes < 0 || *s.ReplayLagBytes > 1<<20 {
		t.Errorf("lag bytes = sent %v replay %v", s.SentLagBytes, s.ReplayLagBytes)
	}
	mb, ok := r.MaxLagMB()
	if !ok || mb >= 1 {
		t.Errorf("MaxLagMB = %v, %v; want measured and < 1", mb, ok)
	}

	_, err = Lag(t.Context(), replica)
	if err == nil || !strings.Contains(err.Error(), "replica1 is in recovery (a standby), not the leader") {
		t.Errorf("Lag on a replica: err = %v", err)
	}
}

func TestLagWithoutStandbyIsAbsent(t *testing.T) {
	p, _ := newPair(t, false)
	r, err := Lag(t.Context(), Node{Name: "solo", DSN: p.DSN("")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.MaxLagMB(); ok || len(r.Standbys) != 0 || r.MaxReplayLagBytes != nil {
		t.Errorf("lag without standbys = %+v, want absent", r)
	}
}

func TestCatchUp(t *testing.T) {
	exec(t, primary, `CREATE TABLE IF NOT EXISTS catchup_t (n int)`)
	exec(t, primary, `INSERT INTO catchup_t SELECT g FROM generate_series(1, 10000) g`)
	r, err := WaitCatchUp(t.Context(), primary, []Node{replica}, 10*time.Second, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	l := r.Leader
	if l.InRecovery || l.LSN == nil || l.Timeline != 1 || l.TimelineSource != TimelineFromWAL || l.ReceiveLSN != nil {
		t.Errorf("leader position = %+v", l)
	}
	rc := r.Replicas[0]
	if !rc.CaughtUp || !rc.SameTimeline || !rc.InRecovery || rc.TimelineSource != TimelineFromWALReceiver ||
		rc.BehindBytes == nil || *rc.BehindBytes > 0 || rc.ReceiveLSN == nil {
		t.Errorf("replica = %+v", rc)
	}

	ghost := unreachable(t)
	r, err = CatchUp(t.Context(), primary, []Node{replica, ghost})
	if err != nil {
		t.Fatal(err)
	}
	if r.AllCaughtUp() || r.Replicas[1].Error == "" || r.Replicas[1].CaughtUp {
		t.Errorf("unreachable replica = %+v", r.Replicas[1])
	}
	if got := strings.Join(r.Lagging(), ","); !strings.Contains(got, "ghost") {
		t.Errorf("Lagging = %s", got)
	}
	_, err = WaitCatchUp(t.Context(), primary, []Node{ghost}, 300*time.Millisecond, 0)
	if err == nil || !strings.Contains(err.Error(), "replicas not caught up with primary within 300ms: ghost: pg: WAL position of ghost") {
		t.Errorf("WaitCatchUp err = %v", err)
	}
	if _, err := CatchUp(t.Context(), replica, []Node{primary}); err == nil || !strings.Contains(err.Error(), "replica1 is in recovery") {
		t.Errorf("CatchUp with a standby as leader: err = %v", err)
	}
}

func TestReplicated(t *testing.T) {
	r, err := Replicated(t.Context(), primary, []Node{replica}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Replicas) != 1 || r.Replicas[0].Delay == nil || r.MaxDelay == nil || *r.MaxDelay > 10*time.Second {
		t.Errorf("report = %+v", r)
	}
	if n := queryInt(t, replica, `SELECT count(*) FROM drill_markers WHERE id = $1`, r.Marker); n != 1 {
		t.Errorf("marker rows on the replica = %d", n)
	}

	ghost := unreachable(t)
	r, err = Replicated(t.Context(), primary, []Node{replica, ghost}, 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not seen within 500ms on: ghost (last error: pg: connect to ghost") {
		t.Errorf("err = %v", err)
	}
	if r.Replicas[0].Delay == nil || r.Replicas[1].Delay != nil || r.MaxDelay != nil {
		t.Errorf("partial report = %+v", r)
	}
}
