package pg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ServerStatus is one node's identity and load, for a status screen.
type ServerStatus struct {
	Version           string // server_version, e.g. "15.20 (Debian 15.20-0+deb12u1)"
	VersionNum        int    // server_version_num, e.g. 150020
	InRecovery        bool
	Connections       int // client backends in pg_stat_activity, drill's own included
	ActiveConnections int // of which running a statement (drill's own included)
	MaxConnections    int
}

// Status reads n's version, recovery state and client connection counts.
func Status(ctx context.Context, n Node) (ServerStatus, error) {
	var s ServerStatus
	err := queryNode(ctx, n, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `
SELECT current_setting('server_version'),
       current_setting('server_version_num')::int,
       pg_is_in_recovery(),
       count(*) FILTER (WHERE backend_type = 'client backend'),
       count(*) FILTER (WHERE backend_type = 'client backend' AND state = 'active'),
       current_setting('max_connections')::int
FROM pg_stat_activity`).Scan(&s.Version, &s.VersionNum, &s.InRecovery, &s.Connections, &s.ActiveConnections, &s.MaxConnections)
	})
	if err != nil {
		return ServerStatus{}, fmt.Errorf("pg: status of %s: %w", n.Name, err)
	}
	return s, nil
}
