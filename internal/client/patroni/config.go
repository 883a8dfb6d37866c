package patroni

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// DynamicConfig is the cluster-wide configuration kept in the DCS
// (GET /config). Settings drill reads are typed; absent ones are nil. Raw
// holds the whole document, including settings of later Patroni versions
// (failsafe_mode, member_slots_ttl...) that are not typed here.
type DynamicConfig struct {
	TTL                   *int           `json:"ttl,omitempty"`
	LoopWait              *int           `json:"loop_wait,omitempty"`
	RetryTimeout          *int           `json:"retry_timeout,omitempty"`
	MaximumLagOnFailover  *int64         `json:"maximum_lag_on_failover,omitempty"`
	SynchronousMode       *SyncMode      `json:"synchronous_mode,omitempty"`
	SynchronousNodeCount  *int           `json:"synchronous_node_count,omitempty"`
	SynchronousModeStrict *bool          `json:"synchronous_mode_strict,omitempty"`
	Pause                 *bool          `json:"pause,omitempty"`
	Raw                   map[string]any `json:"-"`
}

// UnmarshalJSON fills the typed fields and Raw.
func (d *DynamicConfig) UnmarshalJSON(b []byte) error {
	type plain DynamicConfig
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*d = DynamicConfig(p)
	d.Raw = raw
	return nil
}

// Config returns GET /config from the first member that answers.
func (c *Client) Config(ctx context.Context) (DynamicConfig, error) {
	var d DynamicConfig
	if err := c.anyMember(ctx, http.MethodGet, "/config", nil, &d); err != nil {
		return DynamicConfig{}, err
	}
	return d, nil
}

// PatchConfig merges patch into the dynamic configuration (PATCH /config; a
// nil value removes a key) and returns the configuration Patroni stored.
// Members apply it at their next loop. Typical keys: ttl, loop_wait,
// retry_timeout, synchronous_mode, pause.
func (c *Client) PatchConfig(ctx context.Context, patch map[string]any) (DynamicConfig, error) {
	if len(patch) == 0 {
		return DynamicConfig{}, fmt.Errorf("patroni: PATCH /config: empty patch")
	}
	var d DynamicConfig
	if err := c.anyMember(ctx, http.MethodPatch, "/config", patch, &d); err != nil {
		return DynamicConfig{}, err
	}
	return d, nil
}

// Pause puts the cluster in maintenance mode (PATCH /config {"pause": true}):
// Patroni stops managing PostgreSQL and will not fail over.
func (c *Client) Pause(ctx context.Context) error {
	_, err := c.PatchConfig(ctx, map[string]any{"pause": true})
	return err
}

// Resume leaves maintenance mode (PATCH /config {"pause": false}).
func (c *Client) Resume(ctx context.Context) error {
	_, err := c.PatchConfig(ctx, map[string]any{"pause": false})
	return err
}
