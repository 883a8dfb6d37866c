package patroni

import (
	"context"
	"fmt"
	"net/http"
)

// Status is one member's live view of itself, from GET /patroni.
type Status struct {
	State string `json:"state"` // "running", "stopped", "starting", ...
	// Role is reported verbatim: Patroni 3.0.2 says "master" for a primary
	// (later versions say "primary"); use IsPrimary.
	Role                     string      `json:"role"`
	ServerVersion            int         `json:"server_version"`
	PostmasterStartTime      string      `json:"postmaster_start_time"`
	Timeline                 *int64      `json:"timeline,omitempty"`
	XLog                     XLog        `json:"xlog"`
	Replication              []Replica   `json:"replication,omitempty"` // on a primary: its walsenders
	ClusterUnlocked          bool        `json:"cluster_unlocked"`
	Pause                    bool        `json:"pause"`
	PendingRestart           bool        `json:"pending_restart"`
	DCSLastSeen              int64       `json:"dcs_last_seen"`
	DatabaseSystemIdentifier string      `json:"database_system_identifier"`
	Patroni                  PatroniInfo `json:"patroni"`
	// Tags are the member's tags as Patroni reports them: the predefined
	// boolean tags (nofailover, noloadbalance, clonefrom, nosync, nostream)
	// only when true (Patroni 3.2 and later also report nofailover: false
	// beside failover_priority), every other tag as configured.
	Tags map[string]any `json:"tags,omitempty"`
}

// XLog holds WAL positions as byte offsets. A primary reports Location; a
// replica reports ReceivedLocation and ReplayedLocation. Absent fields are nil.
type XLog struct {
	Location          *uint64 `json:"location,omitempty"`
	ReceivedLocation  *uint64 `json:"received_location,omitempty"`
	ReplayedLocation  *uint64 `json:"replayed_location,omitempty"`
	ReplayedTimestamp *string `json:"replayed_timestamp,omitempty"`
	Paused            *bool   `json:"paused,omitempty"`
}

// Replica is one walsender row a primary reports under "replication".
type Replica struct {
	Usename         string `json:"usename"`
	ApplicationName string `json:"application_name"`
	ClientAddr      string `json:"client_addr"`
	State           string `json:"state"`
	SyncState       string `json:"sync_state"`
	SyncPriority    int    `json:"sync_priority"`
}

// PatroniInfo identifies the Patroni daemon. Name is empty before Patroni 3.1.
type PatroniInfo struct {
	Version string `json:"version"`
	Scope   string `json:"scope"`
	Name    string `json:"name,omitempty"`
}

// IsPrimary reports whether the member runs as a primary ("master" in
// Patroni 3.0, "primary" later).
func (s Status) IsPrimary() bool { return s.Role == "master" || s.Role == "primary" }

// Member returns GET /patroni from the member at base URL memberURL. It does
// not fall back to other members: the point is this member's own view.
func (c *Client) Member(ctx context.Context, memberURL string) (Status, error) {
	base, err := normalizeURL(memberURL)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.do(ctx, c.timeout, http.MethodGet, base, "/patroni", nil)
	if err != nil {
		return Status{}, fmt.Errorf("patroni: GET %s/patroni: %w; check that this member's Patroni runs and is not frozen", base, err)
	}
	if resp.status != http.StatusOK {
		return Status{}, fmt.Errorf("patroni: %w", &HTTPError{Method: http.MethodGet, URL: base + "/patroni", Status: resp.status, Body: trimBody(resp.body)})
	}
	var s Status
	if err := decodeJSON("GET "+base+"/patroni", resp.body, &s); err != nil {
		return Status{}, err
	}
	return s, nil
}

// Check is a health-check endpoint of a member.
type Check string

// Health checks (Patroni 3.0).
const (
	// CheckPrimary answers 200 only on the leader running as primary.
	CheckPrimary Check = "/primary"
	// CheckReplica answers 200 only on a running replica.
	CheckReplica Check = "/replica"
	// CheckHealth answers 200 while PostgreSQL runs, whatever its role.
	CheckHealth Check = "/health"
	// CheckLeader answers 200 on the member holding the leader key.
	CheckLeader Check = "/leader"
)

// Probe sends GET to a health-check endpoint of the member at memberURL and
// returns the HTTP status code (200 means the check passed, 503 that it did
// not). The error is non-nil only when no status was received.
func (c *Client) Probe(ctx context.Context, memberURL string, check Check) (int, error) {
	base, err := normalizeURL(memberURL)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, c.timeout, http.MethodGet, base, string(check), nil)
	if err != nil {
		return 0, fmt.Errorf("patroni: GET %s%s: %w", base, check, err)
	}
	return resp.status, nil
}
