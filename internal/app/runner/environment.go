package runner

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/steps"
)

// environmentTimeout bounds reading the environment fingerprint.
const environmentTimeout = 10 * time.Second

// readEnvironment reads the fingerprint of what the scenario runs against:
// the Patroni and PostgreSQL versions from the first members' GET /patroni
// that report them, the failover settings from GET /config, the platform
// and the host drill runs on. A value that could not be read is left out
// of Values with the reason in Unread: never a default.
func readEnvironment(ctx context.Context, client steps.Patroni, platform string) *report.Environment {
	ctx, cancel := context.WithTimeout(ctx, environmentTimeout)
	defer cancel()
	env := &report.Environment{ReadAt: time.Now(), Values: map[string]string{}, Unread: map[string]string{}}
	env.Set(report.EnvPlatform, platform, "the cluster block names no platform")
	host, err := os.Hostname()
	env.Set(report.EnvHost, host, fmt.Sprint(err))
	if client == nil {
		for _, k := range report.EnvironmentKeys[2:] {
			env.Unread[k] = "the cluster block gives no Patroni REST API"
		}
		return env
	}
	readVersionsInto(ctx, client, env)
	cfg, err := client.Config(ctx)
	if err != nil {
		for _, k := range report.PatroniSettings {
			env.Unread[k] = "GET /config: " + err.Error()
		}
		return env
	}
	notSet := "not set in GET /config (Patroni's built-in default applies)"
	env.Set(report.EnvTTL, intText(cfg.TTL), notSet)
	env.Set(report.EnvLoopWait, intText(cfg.LoopWait), notSet)
	env.Set(report.EnvRetryTimeout, intText(cfg.RetryTimeout), notSet)
	if cfg.MaximumLagOnFailover != nil {
		env.Set(report.EnvMaxLag, strconv.FormatInt(*cfg.MaximumLagOnFailover, 10), "")
	} else {
		env.Unread[report.EnvMaxLag] = notSet
	}
	if cfg.SynchronousMode != nil {
		env.Set(report.EnvSyncMode, string(*cfg.SynchronousMode), notSet)
	} else {
		env.Unread[report.EnvSyncMode] = notSet
	}
	return env
}

// readVersionsInto asks each member's GET /patroni in turn until both
// versions are known (a member whose PostgreSQL is down reports none).
func readVersionsInto(ctx context.Context, client steps.Patroni, env *report.Environment) {
	why := "no member answered GET /patroni"
	for _, url := range client.URLs() {
		st, err := client.Member(ctx, url)
		if err != nil {
			why = "GET /patroni: " + err.Error()
			continue
		}
		if env.Values[report.EnvPatroni] == "" && st.Patroni.Version != "" {
			env.Values[report.EnvPatroni] = st.Patroni.Version
		}
		if env.Values[report.EnvPostgres] == "" && st.ServerVersion > 0 {
			env.Values[report.EnvPostgres] = PostgresVersion(st.ServerVersion)
		}
		if env.Values[report.EnvPatroni] != "" && env.Values[report.EnvPostgres] != "" {
			return
		}
		why = url + " reports no version (PostgreSQL not running?)"
	}
	for _, k := range []string{report.EnvPatroni, report.EnvPostgres} {
		if env.Values[k] == "" {
			delete(env.Values, k)
			env.Unread[k] = why
		}
	}
}

func intText(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}
