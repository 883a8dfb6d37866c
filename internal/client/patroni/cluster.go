package patroni

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Role is a member's role as GET /cluster reports it.
type Role string

// Roles reported by GET /cluster (Patroni 3.0).
const (
	RoleLeader        Role = "leader"
	RoleReplica       Role = "replica"
	RoleSyncStandby   Role = "sync_standby"
	RoleStandbyLeader Role = "standby_leader"
)

// Cluster is the topology GET /cluster reports. It comes from the DCS and is
// the same on every member, but each member's state, timeline and lag are
// stale by up to loop_wait: judge replication health by SQL (package pg).
type Cluster struct {
	Members             []ClusterMember      `json:"members"`
	Pause               bool                 `json:"pause"`
	ScheduledSwitchover *ScheduledSwitchover `json:"scheduled_switchover,omitempty"`
}

// ClusterMember is one entry of GET /cluster.
type ClusterMember struct {
	Name           string         `json:"name"`
	Role           Role           `json:"role"`
	State          string         `json:"state"`   // "running", "stopped", "starting", "creating replica", ...
	APIURL         string         `json:"api_url"` // restapi.connect_address + "/patroni"
	Host           string         `json:"host"`
	Port           int            `json:"port"`
	Timeline       *int64         `json:"timeline,omitempty"` // absent while PostgreSQL is down
	Lag            Lag            `json:"lag"`                // absent for the leader
	PendingRestart bool           `json:"pending_restart,omitempty"`
	Tags           map[string]any `json:"tags,omitempty"`
}

// Lag is a replica's lag in bytes behind the leader's last known WAL
// position. Known is false when Patroni reports "unknown" or omits it (the
// leader, or a member whose position is not in the DCS).
type Lag struct {
	Bytes int64
	Known bool
}

// UnmarshalJSON accepts a number of bytes or the string "unknown".
func (l *Lag) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" || strings.HasPrefix(s, `"`) {
		*l = Lag{}
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("lag %s: want bytes or \"unknown\"", s)
		}
		n = int64(f)
	}
	*l = Lag{Bytes: n, Known: true}
	return nil
}

// MarshalJSON writes bytes, or "unknown" when not known.
func (l Lag) MarshalJSON() ([]byte, error) {
	if !l.Known {
		return []byte(`"unknown"`), nil
	}
	return []byte(strconv.FormatInt(l.Bytes, 10)), nil
}

// ScheduledSwitchover is a switchover waiting for its time.
type ScheduledSwitchover struct {
	At   string `json:"at"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// Leader returns the member holding the leader key (role leader or
// standby_leader) and whether there is one.
func (c Cluster) Leader() (ClusterMember, bool) {
	for _, m := range c.Members {
		if m.Role == RoleLeader || m.Role == RoleStandbyLeader {
			return m, true
		}
	}
	return ClusterMember{}, false
}

// LeaderName returns the leader's name, or "" when the cluster has none.
func (c Cluster) LeaderName() string {
	m, _ := c.Leader()
	return m.Name
}

// Member returns the member with the given name.
func (c Cluster) Member(name string) (ClusterMember, bool) {
	for _, m := range c.Members {
		if m.Name == name {
			return m, true
		}
	}
	return ClusterMember{}, false
}

// Cluster returns GET /cluster from the first member that answers.
func (c *Client) Cluster(ctx context.Context) (Cluster, error) {
	var cl Cluster
	if err := c.anyMember(ctx, http.MethodGet, "/cluster", nil, &cl); err != nil {
		return Cluster{}, err
	}
	return cl, nil
}

// memberURL resolves a member name to a REST base URL: Options.MemberURLs
// first, then the api_url GET /cluster reports.
func (c *Client) memberURL(ctx context.Context, name string) (string, error) {
	if u, ok := c.memberURLs[name]; ok {
		return u, nil
	}
	cl, err := c.Cluster(ctx)
	if err != nil {
		return "", fmt.Errorf("patroni: find the REST URL of member %q: %w", name, err)
	}
	m, ok := cl.Member(name)
	if !ok {
		names := make([]string, 0, len(cl.Members))
		for _, m := range cl.Members {
			names = append(names, m.Name)
		}
		return "", fmt.Errorf("patroni: no member %q in GET /cluster (members: %s)", name, strings.Join(names, ", "))
	}
	u, err := normalizeURL(m.APIURL)
	if err != nil {
		return "", fmt.Errorf("patroni: api_url of member %q: %w; set its URL in the client's member map", name, err)
	}
	return u, nil
}

// decodeJSON is json.Unmarshal with an error that names the endpoint.
func decodeJSON(endpoint string, b []byte, out any) error {
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("patroni: %s: malformed JSON: %w", endpoint, err)
	}
	return nil
}
