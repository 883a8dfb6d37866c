package pg

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestClientLogsCalls: each Client call is one debug line with its SQL or
// node names, duration and error, never the DSN.
func TestClientLogsCalls(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := (Client{}).Query(ctx, primary.DSN, "select 1 as one"); err != nil {
		t.Fatal(err)
	}
	const refused = "postgres://app:pw-in-dsn@127.0.0.1:1/db?connect_timeout=5"
	if _, err := (Client{}).Exec(ctx, refused, "select 2"); err == nil {
		t.Fatal("Exec on a closed port succeeded")
	}
	if _, err := (Client{}).Lag(ctx, primary); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="sql query" sql="select 1 as one" duration=`,
		`level=DEBUG msg="sql exec" sql="select 2" duration=`,
		`level=DEBUG msg="sql lag" leader=` + primary.Name + ` duration=`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw-in-dsn") || strings.Contains(out, primary.DSN) {
		t.Errorf("the log holds a DSN:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, out)
	}
}
