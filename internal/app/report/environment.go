package report

import "time"

// Environment is the fingerprint of what a scenario ran against, read when
// it started: drill's own version is Run.Drill. A value that could not be
// read is absent from Values and Unread says why; readers show "not read",
// never a default.
type Environment struct {
	ReadAt time.Time         `json:"read_at"`
	Values map[string]string `json:"values,omitempty"`
	Unread map[string]string `json:"unread,omitempty"`
}

// The keys of Environment, in the order reports list them.
const (
	EnvPlatform     = "platform"
	EnvHost         = "host"
	EnvPatroni      = "patroni"
	EnvPostgres     = "postgres"
	EnvTTL          = "ttl"
	EnvLoopWait     = "loop_wait"
	EnvRetryTimeout = "retry_timeout"
	EnvSyncMode     = "synchronous_mode"
	EnvMaxLag       = "maximum_lag_on_failover"
)

// EnvironmentKeys lists every key of Environment in report order.
var EnvironmentKeys = []string{EnvPlatform, EnvHost, EnvPatroni, EnvPostgres, EnvTTL, EnvLoopWait, EnvRetryTimeout, EnvSyncMode, EnvMaxLag}

// PatroniSettings are the keys read from Patroni's GET /config.
var PatroniSettings = []string{EnvTTL, EnvLoopWait, EnvRetryTimeout, EnvSyncMode, EnvMaxLag}

// Set records value under key, or why it could not be read when value is
// "".
func (e *Environment) Set(key, value, why string) {
	if value == "" {
		e.Unread[key] = why
		return
	}
	e.Values[key] = value
}
