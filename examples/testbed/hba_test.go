package testbed_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHBA reads the pg_hba rules the bed's image gives Patroni: replication
// is allowed from the cluster network and from 127.0.0.1, from which a
// member that diverged connects to itself to rewind.
func TestHBA(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("image/config/rootfs/usr/local/bin/testbed-entrypoint")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?m)^  pg_hba:\n((?:    - .*\n)+)`).FindStringSubmatch(string(data))
	if block == nil {
		t.Fatal("no pg_hba block in the entrypoint's Patroni configuration")
	}
	var rules []string
	for _, line := range strings.Split(strings.TrimSpace(block[1]), "\n") {
		rules = append(rules, strings.Join(strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "- ")), " "))
	}
	for _, want := range []string{
		"host replication replicator 127.0.0.1/32 scram-sha-256",
		"host replication replicator ${cidr} scram-sha-256",
	} {
		if !slices.Contains(rules, want) {
			t.Errorf("pg_hba has no rule %q: %q", want, rules)
		}
	}
}
