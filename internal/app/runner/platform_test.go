package runner

import (
	"testing"
)

// TestPlatformAtLoad: the cluster block's platform is checked at load time,
// and so is every step kind against what the platform can do.
func TestPlatformAtLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
	}{
		{"unknown platform", `name: x
cluster:
  platform: nomad
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:3:13: cluster.platform: unknown platform "nomad": use one of compose, hosts, kubernetes`},
		{"misspelled platform", `name: x
cluster:
  platform: host
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:3:13: cluster.platform: unknown platform "host": use one of compose, hosts, kubernetes; did you mean "hosts"?`},
		{"kubernetes: no block", `name: x
cluster:
  platform: kubernetes
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:3:13: platform kubernetes needs a kubernetes block: at least selector (the label selector of the cluster's pods) or preset and cluster_name`},
		{"kubernetes: an unknown preset", `name: x
cluster:
  platform: kubernetes
  kubernetes:
    preset: spillo
    cluster_name: acid-main
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:5:13: cluster.kubernetes.preset: unknown preset "spillo": use pgo or spilo, or give selector instead; did you mean "spilo"?`},
		{"kubernetes: a preset without cluster_name", `name: x
cluster:
  platform: kubernetes
  kubernetes:
    preset: pgo
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:5:13: cluster.kubernetes.preset: preset pgo needs cluster_name: the operator's name of the Postgres cluster (its pods carry it in a label)`},
		{"kubernetes: neither selector nor preset", `name: x
cluster:
  platform: kubernetes
  kubernetes:
    namespace: db
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:5:5: cluster.kubernetes: needs selector (the label selector of the cluster's pods, e.g. application=spilo,cluster-name=acid-main) or preset with cluster_name`},
		{"kubernetes: a bad pod_cidr", `name: x
cluster:
  platform: kubernetes
  kubernetes:
    selector: app=pg
    pod_cidr: 10.244.0.0
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:6:15: cluster.kubernetes.pod_cidr: "10.244.0.0" is not an address range such as 10.244.0.0/16`},
		{"kubernetes: port_forward with a keyword DSN", `name: x
cluster:
  platform: kubernetes
  kubernetes:
    selector: app=pg
    port_forward: true
  pooled_dsn: host=pgbouncer port=6432 user=postgres
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:6:19: cluster.kubernetes.port_forward: cluster.pooled_dsn: is not a URL with a host, which a port-forward needs: write it as scheme://host:port/... (e.g. postgres://user:pass@patroni-0:5432/db)`},
		{"kubernetes: port_forward to several hosts", `name: x
cluster:
  platform: kubernetes
  kubernetes:
    selector: app=pg
    port_forward: true
  members:
    patroni-0: {dsn: "postgres://postgres:secret@patroni-0,patroni-1/db"}
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:6:19: cluster.kubernetes.port_forward: cluster.members.patroni-0.dsn: "postgres://postgres:xxxxx@patroni-0,patroni-1/db" names several hosts: a port-forward reaches one; name a Service instead`},
		{"kubernetes: the block on another platform", `name: x
cluster:
  platform: hosts
  hosts:
    pg1: {address: 10.0.0.1}
  kubernetes:
    selector: app=pg
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:7:5: cluster.kubernetes: is for platform kubernetes: set platform: kubernetes, or remove this block`},
		{"kubernetes: a kind the platform cannot do", `name: x
cluster:
  platform: kubernetes
  kubernetes: {preset: spilo, cluster_name: acid-main}
steps:
  - kind: network.disconnect
    target: acid-main-0
`, `f.yaml:6:11: network.disconnect cannot run on platform kubernetes: it cannot take a member off a network`},
		{"kubernetes: every other fault kind loads", `name: x
cluster:
  platform: kubernetes
  kubernetes: {preset: spilo, cluster_name: acid-main, agent_image: drill-agent:1}
steps:
  - kind: compose.stop
    target: acid-main-0
  - kind: compose.kill
    target: leader
  - kind: compose.pause
    target: acid-main-1
  - kind: network.partition
    groups: [[acid-main-0], [leader]]
  - kind: member.exec
    target: leader
    command: [patronictl, list]
`, ``},
		{"a kind the platform cannot do", `name: x
cluster:
  platform: hosts
  hosts:
    pg1: {address: 10.0.0.1}
steps:
  - kind: network.disconnect
    target: pg1
`, `f.yaml:7:11: network.disconnect cannot run on platform hosts: it cannot take a member off a network`},
		{"hosts: a target the block does not name", `name: x
cluster:
  platform: hosts
  hosts:
    pg1: {address: 10.0.0.1}
    etcd1: {address: 10.0.0.2, units: [etcd.service]}
steps:
  - kind: member.stop
    target: pg9
`, `f.yaml:9:13: target: "pg9" is not a role, a member or a host of the cluster block; did you mean "pg1"?`},
		{"hosts: a name close to nothing", `name: x
cluster:
  platform: hosts
  hosts:
    pg1: {address: 10.0.0.1}
steps:
  - kind: member.stop
    target: database
`, `f.yaml:8:13: target: "database" is not a role, a member or a host of the cluster block (hosts: pg1): drill acts only on what the block names`},
		{"hosts: every other fault kind loads", `name: x
cluster:
  platform: hosts
  hosts:
    pg1: {address: 10.0.0.1}
steps:
  - kind: compose.stop
    target: pg1
  - kind: compose.pause
    target: pg1
  - kind: network.partition
    groups: [[pg1], [leader]]
`, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadScenario("f.yaml", []byte(tc.src), nil, map[string]bool{})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
