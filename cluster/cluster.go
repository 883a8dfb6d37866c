// Package cluster is the cluster block of a scenario: where the cluster's
// members run (the platform and its settings), how drill reaches Patroni's
// REST API and PostgreSQL, and how Patroni members map to what the platform
// calls them. It is plain data, decoded strictly by dsl.DecodeContext from a
// scenario's cluster: block or a shared cluster file.
package cluster

import "slices"

// Cluster holds the settings of a scenario's cluster block.
type Cluster struct {
	Platform       string                  `yaml:"platform" doc:"where the members run: compose (the default; see docs/architecture.md for the platforms)"`
	ComposeProject string                  `yaml:"compose_project" doc:"docker compose project of the cluster's containers (default: COMPOSE_PROJECT_NAME, or the only project running)"`
	Network        string                  `yaml:"network" doc:"compose network that network steps act on (default: the service's only network)"`
	Patroni        []string                `yaml:"patroni" doc:"Patroni REST API base URLs, e.g. http://127.0.0.1:8008"`
	PooledDSN      string                  `yaml:"pooled_dsn" doc:"PostgreSQL DSN of the pooled endpoint (PgBouncer or HAProxy) that clients use"`
	Members        map[string]MemberConfig `yaml:"members" doc:"Patroni member name to its compose service, DSN and REST URL"`
	HelperImage    string                  `yaml:"helper_image" doc:"image with iptables and tc, run beside a container that has neither"`
}

// MemberConfig is how the cluster block says drill reaches a Patroni member.
type MemberConfig struct {
	Service string `yaml:"service" doc:"compose service running the member"`
	DSN     string `yaml:"dsn" doc:"PostgreSQL DSN reaching this member directly"`
	API     string `yaml:"api" doc:"Patroni REST API base URL of this member"`
}

// RESTURLs lists the Patroni REST URLs of the block: the patroni list, then
// the members' api URLs not in it.
func (c *Cluster) RESTURLs() []string {
	urls := slices.Clone(c.Patroni)
	for _, m := range c.Members {
		if m.API != "" && !slices.Contains(urls, m.API) {
			urls = append(urls, m.API)
		}
	}
	return urls
}

// MemberAPIs maps each member with an api URL to it.
func (c *Cluster) MemberAPIs() map[string]string {
	out := map[string]string{}
	for name, m := range c.Members {
		if m.API != "" {
			out[name] = m.API
		}
	}
	return out
}

// NamesPatroni reports whether the block names any Patroni REST API.
func (c *Cluster) NamesPatroni() bool { return len(c.RESTURLs()) > 0 }
