package pg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// openRoute connects through dsn and runs first on the new connection,
// the way a background writer or reader begins. A route that works can
// refuse a new client for a moment: a pooler in its server_login_retry
// backoff after a backend failed (SQLSTATE 08P01, PgBouncer refuses every
// login for up to 15 s), a server starting or shutting down (57P03,
// 57P01), a connection refused or reset. openRoute retries those every
// interval, logging each new error once, until ctx ends; any other error
// (authentication, permissions, a bad DSN) returns at once. what names
// the caller in errors and logs ("writer", "reader").
func openRoute(ctx context.Context, dsn string, o ConnOptions, interval time.Duration, log *slog.Logger, what string,
	first func(context.Context, *pgx.Conn) error) (*pgx.Conn, error) {
	var lastLogged string
	for tries := 1; ; tries++ {
		conn, err := connect(ctx, dsn, o)
		if err == nil {
			setup, cancel := withDeadline(ctx, DefaultQueryTimeout)
			err = first(setup, conn)
			cancel()
			if err == nil {
				if tries > 1 {
					log.Info("pg: "+what+": the route takes clients again", "tries", tries)
				}
				return conn, nil
			}
			closeConn(conn)
		}
		if !transientRouteError(err) || ctx.Err() != nil {
			return nil, err
		}
		if msg := err.Error(); msg != lastLogged {
			log.Warn("pg: "+what+": the route refused a new client; retrying until the step's timeout", "every", interval, "err", err)
			lastLogged = msg
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (still refused when the step's time ran out)", err)
		case <-time.After(interval):
		}
	}
}

// transientRouteError reports whether a failure to connect or to run the
// first statement is one that a healthy route gives for a moment: a
// server or pooler error of the connection (08), operator intervention
// (57P: shutting down, starting up) or insufficient resources (53: too
// many connections) classes, or no server error at all (refused, reset,
// timed out). Authentication failures and a DSN that does not parse are
// not.
func transientRouteError(err error) bool {
	var auth *AuthError
	var parse *pgconn.ParseConfigError
	if err == nil || errors.As(err, &auth) || errors.As(err, &parse) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		for _, class := range []string{"08", "57P", "53"} {
			if strings.HasPrefix(pgErr.Code, class) {
				return true
			}
		}
		return false
	}
	return true
}
