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
  platform: kubernets
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:3:13: cluster.platform: unknown platform "kubernets": use one of compose, hosts`},
		{"misspelled platform", `name: x
cluster:
  platform: host
steps:
  - kind: sleep
    duration: 1s
`, `f.yaml:3:13: cluster.platform: unknown platform "host": use one of compose, hosts; did you mean "hosts"?`},
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
