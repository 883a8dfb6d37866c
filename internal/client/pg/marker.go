package pg

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// MarkersTable is where Replicated writes its marker rows.
const MarkersTable = "drill_markers"

const createMarkers = `CREATE TABLE IF NOT EXISTS drill_markers (
	id text PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now())`

// markerPoll is how often each replica is asked for the marker.
const markerPoll = 10 * time.Millisecond

// Delivery is when one replica first returned the marker.
type Delivery struct {
	Node string
	// Delay is from the leader acknowledging the marker's commit to the
	// replica first returning it (resolution: the poll interval plus one
	// round trip); nil if it never did.
	Delay *time.Duration
	// Error is the last error while polling ("" if none).
	Error string
}

// ReplicatedReport is the outcome of one marker write.
type ReplicatedReport struct {
	Marker      string
	CommittedAt time.Time
	Replicas    []Delivery
	// MaxDelay is the largest delay; nil unless every replica returned the marker.
	MaxDelay *time.Duration
}

// Replicated writes a marker row into drill_markers on leader (creating the
// table if missing) and polls every replica until it returns the row or
// timeout passes. On timeout the report is still filled in and the error
// names the replicas that did not return the marker.
func Replicated(ctx context.Context, leader Node, replicas []Node, timeout time.Duration) (ReplicatedReport, error) {
	r := ReplicatedReport{Marker: newID("marker-")}
	err := queryNode(ctx, leader, func(ctx context.Context, conn *pgx.Conn) error {
		if _, err := conn.Exec(ctx, createMarkers); ignoreDuplicateObject(err) != nil {
			return fmt.Errorf("create %s: %w", MarkersTable, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO drill_markers (id) VALUES ($1)`, r.Marker); err != nil {
			return fmt.Errorf("insert marker: %w", err)
		}
		r.CommittedAt = time.Now()
		return nil
	})
	if err != nil {
		return ReplicatedReport{}, fmt.Errorf("pg: write a marker on %s: %w", leader.Name, err)
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.Replicas = make([]Delivery, len(replicas))
	var wg sync.WaitGroup
	for i, n := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Replicas[i] = awaitMarker(ctx, n, r.Marker, r.CommittedAt)
		}()
	}
	wg.Wait()

	var missing []string
	for _, d := range r.Replicas {
		switch {
		case d.Delay == nil && d.Error != "":
			missing = append(missing, d.Node+" (last error: "+d.Error+")")
		case d.Delay == nil:
			missing = append(missing, d.Node)
		case r.MaxDelay == nil || *d.Delay > *r.MaxDelay:
			r.MaxDelay = ptr(*d.Delay)
		}
	}
	if len(missing) > 0 {
		r.MaxDelay = nil
		return r, fmt.Errorf("pg: marker %s written on %s not seen within %s on: %s",
			r.Marker, leader.Name, timeout, strings.Join(missing, ", "))
	}
	return r, nil
}

// awaitMarker polls one replica until it returns the marker or ctx ends.
// Connection errors are retried (a replica may be restarting), except a
// refused authentication.
func awaitMarker(ctx context.Context, n Node, marker string, committed time.Time) Delivery {
	d := Delivery{Node: n.Name}
	var conn *pgx.Conn
	defer func() { closeConn(conn) }()
	t := time.NewTicker(markerPoll)
	defer t.Stop()
	for {
		err := func() error {
			qctx, cancel := withDeadline(ctx, DefaultQueryTimeout)
			defer cancel()
			if conn == nil {
				c, err := connectNode(qctx, n, nodeConnOptions)
				if err != nil {
					return err
				}
				conn = c
			}
			var one int
			err := conn.QueryRow(qctx, `SELECT 1 FROM drill_markers WHERE id = $1`, marker).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) || sqlState(err) == "42P01" { // not there yet, table included
				return nil
			}
			if err != nil {
				closeConn(conn)
				conn = nil
				return err
			}
			d.Delay = ptr(time.Since(committed))
			return nil
		}()
		if d.Delay != nil {
			d.Error = ""
			return d
		}
		if err != nil && ctx.Err() == nil {
			d.Error = err.Error()
		}
		if errors.As(err, new(*AuthError)) { // retrying cannot help
			return d
		}
		select {
		case <-ctx.Done():
			return d
		case <-t.C:
		}
	}
}
