// Package cluster is the cluster block of a scenario: where the cluster's
// members run (the platform and its settings), how drill reaches Patroni's
// REST API and PostgreSQL, and how Patroni members map to what the platform
// calls them. It is plain data, decoded strictly by dsl.DecodeContext from a
// scenario's cluster: block or a shared cluster file.
package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Cluster holds the settings of a scenario's cluster block.
type Cluster struct {
	Platform       string                  `yaml:"platform" doc:"where the members run: compose (the default; see docs/architecture.md for the platforms)"`
	ComposeProject string                  `yaml:"compose_project" doc:"docker compose project of the cluster's containers (default: COMPOSE_PROJECT_NAME, or the only project running)"`
	Network        string                  `yaml:"network" doc:"compose network that network steps act on (default: the service's only network)"`
	Patroni        []string                `yaml:"patroni" doc:"Patroni REST API base URLs, e.g. http://127.0.0.1:8008"`
	PooledDSN      string                  `yaml:"pooled_dsn" doc:"PostgreSQL DSN of the pooled endpoint (PgBouncer or HAProxy) that clients use"`
	ReplicaDSN     string                  `yaml:"replica_dsn" doc:"PostgreSQL DSN of the read-only route to the replicas (e.g. HAProxy's replica port) that read clients use"`
	Members        map[string]MemberConfig `yaml:"members" doc:"Patroni member name to its compose service, DSN and REST URL"`
	HelperImage    string                  `yaml:"helper_image" doc:"image with iptables and tc, run beside a container that has neither"`
	DockerHost     string                  `yaml:"docker_host" doc:"compose: the Docker engine to use: ssh://user@host[:port] (reached over SSH with the ssh: settings, no docker CLI needed), tcp://host:port (TLS from DOCKER_CERT_PATH), unix:///path; default DOCKER_HOST, else the local engine"`
	SSH            SSH                     `yaml:"ssh" doc:"how drill logs in to hosts (platform: hosts) and to an ssh:// docker_host"`
	Hosts          map[string]Host         `yaml:"hosts" doc:"platform hosts: each host by name, with its address and the systemd units it runs for the cluster"`
	Processes      map[string]Process      `yaml:"processes" doc:"processes inside a member that the process.* steps act on, by name: overrides of the built-in postmaster, patroni, walreceiver and pgbouncer, or new names"`
	Groups         map[string][]string     `yaml:"groups" doc:"named sets of services (compose) or hosts (platform hosts) that a target names as one, e.g. etcd: [etcd1, etcd2, etcd3]: a fault on the group hits every one of them at once"`
	Kubernetes     Kubernetes              `yaml:"kubernetes" doc:"platform kubernetes: the API server, namespace and label selector of the cluster's pods"`
}

// Kubernetes is how drill finds a cluster's pods on Kubernetes. A member is a
// pod, named as Patroni names it (the pod name, with Spilo and PGO).
type Kubernetes struct {
	Kubeconfig  string `yaml:"kubeconfig" doc:"kubeconfig file, relative to the file that holds the cluster block (default KUBECONFIG, else ~/.kube/config, else the pod's service account when drill runs in the cluster)"`
	Context     string `yaml:"context" doc:"kubeconfig context (default its current context)"`
	Namespace   string `yaml:"namespace" doc:"namespace of the cluster's pods (default the context's, else default)"`
	Preset      string `yaml:"preset" doc:"spilo (Zalando postgres-operator) or pgo (Crunchy PGO and Percona's operator): the selector and container that operator uses, from cluster_name"`
	ClusterName string `yaml:"cluster_name" doc:"the operator's name of the Postgres cluster, for preset"`
	Selector    string `yaml:"selector" doc:"label selector of the pods that are the cluster's services, e.g. application=spilo,cluster-name=acid-main (preset sets it)"`
	Container   string `yaml:"container" doc:"container of each pod that runs Patroni, where exec and logs go (default: the pod's first container; preset sets it)"`
	AgentImage  string `yaml:"agent_image" doc:"image of the ephemeral containers drill adds to a pod to send signals and set network rules: needs sh, kill, iptables and tc, and must be pullable by the nodes"`
	PodCIDR     string `yaml:"pod_cidr" doc:"the cluster's pod address range, which a partition from every peer cuts (default: the nodes' spec.podCIDRs)"`
	PortForward bool   `yaml:"port_forward" doc:"reach the block's addresses (patroni, the members' api and dsn, pooled_dsn, replica_dsn) through port-forwards that drill opens and closes itself: write each with a pod's or a Service's name as its host, as a client in the namespace would, e.g. http://patroni-0:8008"`
}

// Preset is the labels and container an operator gives its Patroni pods.
type Preset struct {
	Selector  string // with %s for the cluster's name
	Container string
}

// Presets are the operators whose pod labels drill knows.
var Presets = map[string]Preset{
	"spilo": {Selector: "application=spilo,cluster-name=%s", Container: "postgres"},
	"pgo":   {Selector: "postgres-operator.crunchydata.com/cluster=%s,postgres-operator.crunchydata.com/instance", Container: "database"},
}

// Group returns the services or hosts the group name stands for, and
// whether name is a group of the block.
func (c *Cluster) Group(name string) ([]string, bool) {
	g, ok := c.Groups[name]
	return g, ok
}

// SSH is how drill logs in over SSH.
type SSH struct {
	User                  string        `yaml:"user" doc:"login user (default root)"`
	Port                  int           `yaml:"port" doc:"port of every host that does not give its own (default 22)"`
	IdentityFile          string        `yaml:"identity_file" doc:"private key file, relative to the file that holds the cluster block"`
	Passphrase            string        `yaml:"passphrase" doc:"passphrase of the identity file: give it as a secret var, e.g. ${key_passphrase}"`
	Password              string        `yaml:"password" doc:"password login: give it as a secret var"`
	Agent                 bool          `yaml:"agent" doc:"use the ssh-agent at SSH_AUTH_SOCK"`
	KnownHosts            string        `yaml:"known_hosts" doc:"known_hosts file that vouches for the hosts' keys (default ~/.ssh/known_hosts), relative to the file that holds the cluster block"`
	InsecureIgnoreHostKey bool          `yaml:"insecure_ignore_host_key" doc:"accept any host key: a man in the middle goes unnoticed, and drill warns on every run"`
	Sudo                  bool          `yaml:"sudo" doc:"run systemctl, journalctl, iptables and tc through sudo -n (when the user is not root)"`
	Jump                  string        `yaml:"jump" doc:"a jump host, [user@]host[:port], reached with the same credentials"`
	ConnectTimeout        time.Duration `yaml:"connect_timeout" doc:"bound on connecting and logging in to one host (default 10s)"`
}

// Host is one machine of platform hosts.
type Host struct {
	Address string   `yaml:"address" required:"true" doc:"host name or IP address drill connects to"`
	Port    int      `yaml:"port" doc:"SSH port (default ssh.port, else 22)"`
	User    string   `yaml:"user" doc:"login user on this host (default ssh.user)"`
	Units   []string `yaml:"units" doc:"systemd units a fault on this host acts on together (default [patroni.service])"`
}

// UnitsOf returns the host's units, patroni.service by default.
func (h Host) UnitsOf() []string {
	if len(h.Units) == 0 {
		return []string{"patroni.service"}
	}
	return h.Units
}

// MemberConfig is how the cluster block says drill reaches a Patroni member.
type MemberConfig struct {
	Service string `yaml:"service" doc:"compose service running the member"`
	Host    string `yaml:"host" doc:"platform hosts: the host (a key of hosts) running the member"`
	DSN     string `yaml:"dsn" doc:"PostgreSQL DSN reaching this member directly"`
	API     string `yaml:"api" doc:"Patroni REST API base URL of this member"`
	// PatroniConfig is the member's local Patroni configuration file, for
	// patroni.tags; by default the last argument of the running Patroni's
	// command line.
	PatroniConfig string `yaml:"patroni_config" doc:"path of the member's Patroni configuration file, for patroni.tags (default: the last argument of the running patroni process)"`
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

// Where is what runs the member on its platform: the compose service, else
// the host ("" when the block does not say).
func (m MemberConfig) Where() string {
	if m.Service != "" {
		return m.Service
	}
	return m.Host
}

// ResolvePaths makes the block's relative file paths relative to dir, the
// folder of the file that holds the block.
func (c *Cluster) ResolvePaths(dir string) {
	for _, p := range []*string{&c.SSH.IdentityFile, &c.SSH.KnownHosts, &c.Kubernetes.Kubeconfig} {
		if *p != "" && !filepath.IsAbs(*p) && !strings.HasPrefix(*p, "~") {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Pods returns the label selector and container the block
// means, with its preset applied (explicit fields win over the preset's).
// The error says what to fix; load-time checks report it with a position.
func (k Kubernetes) Pods() (selector, container string, err error) {
	selector, container = k.Selector, k.Container
	if k.Preset != "" {
		p, ok := Presets[k.Preset]
		switch {
		case !ok:
			return "", "", fmt.Errorf("unknown preset %q: use %s, or give selector instead", k.Preset, strings.Join(slices.Sorted(maps.Keys(Presets)), " or "))
		case k.ClusterName == "":
			return "", "", fmt.Errorf("preset %s needs cluster_name: the operator's name of the Postgres cluster (its pods carry it in a label)", k.Preset)
		}
		selector = cmp.Or(selector, fmt.Sprintf(p.Selector, k.ClusterName))
		container = cmp.Or(container, p.Container)
	}
	if selector == "" {
		return "", "", errors.New("needs selector (the label selector of the cluster's pods, e.g. application=spilo,cluster-name=acid-main) or preset with cluster_name")
	}
	return selector, container, nil
}
