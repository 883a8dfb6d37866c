package pg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// MiB is the unit of the lag_mb metric.
const MiB = 1 << 20

// StandbyLag is one row of pg_stat_replication on the leader. Byte lags
// are pg_current_wal_lsn() minus the standby's sent/write/flush/replay
// position; a nil lag means the standby has not reported that position.
type StandbyLag struct {
	ApplicationName string
	ClientAddr      string
	State           string // "streaming", "catchup", "startup", "backup"
	SyncState       string // "async", "sync", "potential", "quorum"
	SentLagBytes    *int64
	WriteLagBytes   *int64
	FlushLagBytes   *int64
	ReplayLagBytes  *int64
	// ReplayLagS is pg_stat_replication.replay_lag in seconds. PostgreSQL
	// reports NULL (nil here) when the standby has been idle and caught up
	// for a while, or has not replied yet.
	ReplayLagS *float64
}

// LagReport is the replication state a leader sees.
type LagReport struct {
	Standbys []StandbyLag
	// MaxReplayLagBytes is the largest ReplayLagBytes; nil when no standby
	// is connected or none reported a replay position.
	MaxReplayLagBytes *int64
}

// MaxLagMB returns MaxReplayLagBytes in MiB, and false when it is absent:
// with no standby the lag is unmeasured, not zero.
func (r LagReport) MaxLagMB() (float64, bool) {
	if r.MaxReplayLagBytes == nil {
		return 0, false
	}
	return float64(*r.MaxReplayLagBytes) / MiB, true
}

// Lag reads pg_stat_replication on leader. It fails if leader is in
// recovery. It needs a superuser or pg_monitor member to see positions.
func Lag(ctx context.Context, leader Node) (LagReport, error) {
	var r LagReport
	err := queryNode(ctx, leader, func(ctx context.Context, conn *pgx.Conn) error {
		if err := requirePrimary(ctx, conn, leader); err != nil {
			return err
		}
		rows, err := conn.Query(ctx, `
SELECT coalesce(application_name, ''), coalesce(host(client_addr), ''),
       coalesce(state, ''), coalesce(sync_state, ''),
       pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
       extract(epoch FROM replay_lag)::float8
FROM pg_stat_replication
ORDER BY application_name, client_addr`)
		if err != nil {
			return err
		}
		r.Standbys, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (StandbyLag, error) {
			var s StandbyLag
			err := row.Scan(&s.ApplicationName, &s.ClientAddr, &s.State, &s.SyncState,
				&s.SentLagBytes, &s.WriteLagBytes, &s.FlushLagBytes, &s.ReplayLagBytes, &s.ReplayLagS)
			return s, err
		})
		return err
	})
	if err != nil {
		return LagReport{}, fmt.Errorf("pg: replication lag on %s: %w", leader.Name, err)
	}
	for _, s := range r.Standbys {
		if s.ReplayLagBytes != nil && (r.MaxReplayLagBytes == nil || *s.ReplayLagBytes > *r.MaxReplayLagBytes) {
			r.MaxReplayLagBytes = ptr(*s.ReplayLagBytes)
		}
	}
	return r, nil
}

// requirePrimary fails when the connected server is in recovery.
func requirePrimary(ctx context.Context, conn *pgx.Conn, n Node) error {
	var inRecovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
		return err
	}
	if inRecovery {
		return fmt.Errorf("%s is in recovery (a standby), not the leader", n.Name)
	}
	return nil
}
