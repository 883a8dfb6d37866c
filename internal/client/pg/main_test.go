package pg

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/pg/pgtest"
	"github.com/jackc/pgx/v5"
)

// The shared fixture: a primary and one streaming replica, started once.
// Tests that stop, promote or freeze a server build their own cluster.
var (
	primary, replica Node
	fixture          *pgtest.Cluster
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	c, err := pgtest.NewCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: internal/pg tests need real PostgreSQL:", err)
		return 1
	}
	fixture = c
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "fixture cleanup:", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := c.InitPrimary(ctx, "primary", pgtest.FastSettings)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start the primary:", err)
		return 1
	}
	r, err := p.Replica(ctx, "replica1", pgtest.FastSettings)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: start the replica:", err)
		return 1
	}
	primary = Node{Name: "primary", DSN: p.DSN("")}
	replica = Node{Name: "replica1", DSN: r.DSN("")}
	return m.Run()
}

// newPair starts a private primary and replica for a destructive test.
func newPair(t *testing.T, withReplica bool) (*pgtest.Server, *pgtest.Server) {
	t.Helper()
	if !withReplica {
		return pgtest.Primary(t, "p"), nil
	}
	return pgtest.Pair(t, "p", "r")
}

// exec runs statements on n, failing the test on error.
func exec(t *testing.T, n Node, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// queryInt runs a query returning one integer on n.
func queryInt(t *testing.T, n Node, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}
