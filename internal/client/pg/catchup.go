package pg

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timeline sources, from the most to the least current.
const (
	// TimelineFromWAL: a primary's timeline, from the name of the WAL
	// segment it writes (exact as soon as a promotion ends).
	TimelineFromWAL = "wal"
	// TimelineFromWALReceiver: a standby's, from pg_stat_wal_receiver's
	// received_tli (the timeline it streams).
	TimelineFromWALReceiver = "wal_receiver"
	// TimelineFromCheckpoint: pg_control_checkpoint().timeline_id, the
	// fallback for a standby without a WAL receiver; it changes only at
	// the next checkpoint or restartpoint.
	TimelineFromCheckpoint = "checkpoint"
)

// Position is where one node is in the WAL.
type Position struct {
	Node       string
	InRecovery bool
	// LSN is a byte position: pg_current_wal_lsn() on a primary,
	// pg_last_wal_replay_lsn() on a standby (nil if it replayed nothing).
	LSN *uint64
	// ReceiveLSN is a standby's pg_last_wal_receive_lsn(); nil on a
	// primary or before the standby received anything by streaming.
	ReceiveLSN     *uint64
	Timeline       int64
	TimelineSource string
}

// NodePosition reads n's WAL position and timeline.
func NodePosition(ctx context.Context, n Node) (Position, error) {
	p := Position{Node: n.Name}
	err := queryNode(ctx, n, func(ctx context.Context, conn *pgx.Conn) error {
		var lsn, recv *int64
		var walfile *string
		var recvTLI, ckptTLI *int64
		err := conn.QueryRow(ctx, `
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END::bigint,
       CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::bigint END,
       CASE WHEN NOT pg_is_in_recovery() THEN pg_walfile_name(pg_current_wal_lsn()) END,
       (SELECT received_tli::bigint FROM pg_stat_wal_receiver WHERE received_tli > 0),
       (SELECT timeline_id::bigint FROM pg_control_checkpoint())`).Scan(
			&p.InRecovery, &lsn, &recv, &walfile, &recvTLI, &ckptTLI)
		if err != nil {
			return err
		}
		p.LSN, p.ReceiveLSN = unsigned(lsn), unsigned(recv)
		switch {
		case walfile != nil:
			tl, err := strconv.ParseInt((*walfile)[:8], 16, 64)
			if err != nil {
				return fmt.Errorf("timeline of WAL file %q: %w", *walfile, err)
			}
			p.Timeline, p.TimelineSource = tl, TimelineFromWAL
		case recvTLI != nil:
			p.Timeline, p.TimelineSource = *recvTLI, TimelineFromWALReceiver
		case ckptTLI != nil:
			p.Timeline, p.TimelineSource = *ckptTLI, TimelineFromCheckpoint
		}
		return nil
	})
	if err != nil {
		return Position{}, fmt.Errorf("pg: WAL position of %s: %w", n.Name, err)
	}
	return p, nil
}

func unsigned(v *int64) *uint64 {
	if v == nil || *v < 0 {
		return nil
	}
	return ptr(uint64(*v))
}

// ReplicaCatchUp compares one replica with the leader.
type ReplicaCatchUp struct {
	Position
	// BehindBytes is the leader's LSN minus the replica's replay LSN
	// (negative if the replica is ahead: diverged); nil if either is unknown.
	BehindBytes  *int64
	SameTimeline bool
	// CaughtUp: in recovery, on the leader's timeline and replayed up to
	// the leader's LSN.
	CaughtUp bool
	// Error is why the replica could not be read ("" if it could).
	Error string
}

// CatchUpReport is a snapshot of every replica against the leader.
type CatchUpReport struct {
	Leader   Position
	Replicas []ReplicaCatchUp
}

// AllCaughtUp reports whether every replica is caught up.
func (r CatchUpReport) AllCaughtUp() bool {
	for _, rc := range r.Replicas {
		if !rc.CaughtUp {
			return false
		}
	}
	return true
}

// Lagging returns the names of the replicas that are not caught up.
func (r CatchUpReport) Lagging() []string {
	var names []string
	for _, rc := range r.Replicas {
		if !rc.CaughtUp {
			names = append(names, rc.Node)
		}
	}
	return names
}

// CatchUp reads the leader's position, then every replica's, and compares
// them. The error is non-nil only when the leader cannot be read or is in
// recovery; an unreachable replica is reported in its entry.
func CatchUp(ctx context.Context, leader Node, replicas []Node) (CatchUpReport, error) {
	lp, err := leaderPosition(ctx, leader)
	if err != nil {
		return CatchUpReport{}, err
	}
	return compare(ctx, lp, replicas), nil
}

func leaderPosition(ctx context.Context, leader Node) (Position, error) {
	lp, err := NodePosition(ctx, leader)
	if err != nil {
		return Position{}, err
	}
	if lp.InRecovery {
		return Position{}, fmt.Errorf("pg: catch-up: %s is in recovery (a standby), not the leader", leader.Name)
	}
	return lp, nil
}

// compare reads the replicas concurrently and compares them with lp.
func compare(ctx context.Context, lp Position, replicas []Node) CatchUpReport {
	r := CatchUpReport{Leader: lp, Replicas: make([]ReplicaCatchUp, len(replicas))}
	var wg sync.WaitGroup
	for i, n := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Replicas[i] = compareOne(ctx, lp, n)
		}()
	}
	wg.Wait()
	return r
}

func compareOne(ctx context.Context, lp Position, n Node) ReplicaCatchUp {
	p, err := NodePosition(ctx, n)
	if err != nil {
		return ReplicaCatchUp{Position: Position{Node: n.Name}, Error: err.Error()}
	}
	rc := ReplicaCatchUp{Position: p, SameTimeline: p.Timeline == lp.Timeline}
	if p.LSN != nil && lp.LSN != nil {
		rc.BehindBytes = ptr(int64(*lp.LSN - *p.LSN))
	}
	rc.CaughtUp = p.InRecovery && rc.SameTimeline && rc.BehindBytes != nil && *rc.BehindBytes <= 0
	return rc
}

// WaitCatchUp takes the leader's current LSN as the target and polls the
// replicas every interval (default 50 ms) until each has replayed up to it
// on the leader's timeline. On timeout it returns the last report and an
// error naming the replicas that did not get there.
func WaitCatchUp(ctx context.Context, leader Node, replicas []Node, timeout, interval time.Duration) (CatchUpReport, error) {
	if interval <= 0 {
		interval = 50 * time.Millisecond
	}
	lp, err := leaderPosition(ctx, leader)
	if err != nil {
		return CatchUpReport{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r := compare(ctx, lp, replicas)
		if r.AllCaughtUp() {
			return r, nil
		}
		select {
		case <-ctx.Done():
			var why []string
			for _, rc := range r.Replicas {
				if !rc.CaughtUp {
					why = append(why, describeLag(rc))
				}
			}
			return r, fmt.Errorf("pg: replicas not caught up with %s within %s: %s: %w",
				lp.Node, timeout, strings.Join(why, "; "), ctx.Err())
		case <-t.C:
		}
	}
}

func describeLag(rc ReplicaCatchUp) string {
	switch {
	case rc.Error != "":
		return rc.Node + ": " + rc.Error
	case !rc.InRecovery:
		return rc.Node + ": not in recovery"
	case !rc.SameTimeline:
		return fmt.Sprintf("%s: on timeline %d", rc.Node, rc.Timeline)
	case rc.BehindBytes == nil:
		return rc.Node + ": replay position unknown"
	}
	return fmt.Sprintf("%s: %d bytes behind", rc.Node, *rc.BehindBytes)
}
