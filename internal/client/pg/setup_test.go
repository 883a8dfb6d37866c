package pg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// loginRefuser stands in front of a real server like a pooler in its
// server_login_retry backoff: the first refuse logins get PgBouncer's
// FATAL 08P01; later connections are passed through to the server. (A
// fake for an error path: PostgreSQL alone cannot refuse this way.)
type loginRefuser struct {
	ln      net.Listener
	refused atomic.Int32
}

func startLoginRefuser(t *testing.T, backend string, refuse int32) (*loginRefuser, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(backend)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &loginRefuser{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if f.refused.Load() < refuse {
				f.refused.Add(1)
				wg.Go(func() { refuseLogin(c) })
				continue
			}
			wg.Go(func() { pipe(c, addr) })
		}
	})
	front := ln.Addr().(*net.TCPAddr)
	return f, fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", front.Port, cfg.User, cfg.Database)
}

func refuseLogin(c net.Conn) {
	defer c.Close()
	be := pgproto3.NewBackend(c, c)
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08P01",
		Message: "server login has been failing, try again later (server_login_retry)"})
	_ = be.Flush()
}

func pipe(c net.Conn, addr string) {
	defer c.Close()
	s, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
}

// A writer and a reader started while the route refuses logins (a pooler
// in its backoff) retry until it takes them, and say so in the log.
func TestStartRetriesARouteThatRefusesLoginsForAMoment(t *testing.T) {
	for _, what := range []string{"writer", "reader"} {
		t.Run(what, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			front, dsn := startLoginRefuser(t, primary.DSN, 3)
			var log strings.Builder
			logger := slog.New(slog.NewTextHandler(&syncWriter{w: &log}, nil))
			var stop func()
			switch what {
			case "writer":
				w, err := StartWriter(ctx, WriterConfig{DSN: dsn, Rate: 50, LoopConfig: LoopConfig{Logger: logger}})
				if err != nil {
					t.Fatal(err)
				}
				stop = func() { _, _ = w.Halt(t.Context()) }
			case "reader":
				exec(t, primary, createWrites)
				r, err := StartReader(ctx, ReaderConfig{DSN: dsn, Rate: 50, LoopConfig: LoopConfig{Logger: logger}})
				if err != nil {
					t.Fatal(err)
				}
				stop = func() { _, _ = r.Stop(t.Context()) }
			}
			defer stop()
			if got := front.refused.Load(); got != 3 {
				t.Errorf("%d logins refused before the %s started, want 3", got, what)
			}
			out := log.String()
			if strings.Count(out, "the route refused a new client") != 1 || !strings.Contains(out, "server_login_retry") ||
				!strings.Contains(out, "the route takes clients again") || !strings.Contains(out, "tries=4") {
				t.Errorf("log does not tell the refusals (once) and the recovery after 4 tries:\n%s", out)
			}
		})
	}
}

// A refusal that lasts past the step's time fails the start, naming the
// last error; a refusal that is not transient (bad password) fails at once.
func TestStartGivesUp(t *testing.T) {
	_, dsn := startLoginRefuser(t, primary.DSN, 1<<30)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := StartWriter(ctx, WriterConfig{DSN: dsn, LoopConfig: LoopConfig{Logger: slog.New(slog.DiscardHandler)}})
	var pgErr *pgconn.PgError
	if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "08P01" || !strings.Contains(err.Error(), "still refused when the step's time ran out") {
		t.Errorf("StartWriter against a route that never takes clients: %v, want the 08P01 refusal and that time ran out", err)
	}

	// Not transient: the first failure returns, long before ctx would end.
	ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err = openRoute(ctx, "host=127.0.0.1 port=notaport", ConnOptions{}, time.Millisecond, slog.New(slog.DiscardHandler), "writer",
		func(context.Context, *pgx.Conn) error { return nil })
	if err == nil || transientRouteError(err) || ctx.Err() != nil {
		t.Errorf("a DSN that does not parse: %v (ctx %v), want its parse error at once", err, ctx.Err())
	}
}

func TestTransientRouteError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Severity: "FATAL", Code: "08P01"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P03"}, true},
		{&pgconn.PgError{Severity: "FATAL", Code: "53300"}, true},
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), true},
		{&pgconn.PgError{Severity: "ERROR", Code: "42501"}, false},
		{&AuthError{Code: "28P01", Err: errors.New("password authentication failed")}, false},
		{nil, false},
	} {
		if got := transientRouteError(tc.err); got != tc.want {
			t.Errorf("transientRouteError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// syncWriter serialises writes to w (the writer logs from its goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
