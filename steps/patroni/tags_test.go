package patroni

import (
	"encoding/json"
	"strings"
	"testing"
)

// config is shaped like the test bed's patroni.yml: comments, nested
// mappings, lists, quoted values and a tags section.
const config = `# Generated at container start.
scope: demo
name: pg1

restapi:
  listen: 0.0.0.0:8008 # all interfaces
postgresql:
  parameters:
    hot_standby: 'on'
  authentication:
    superuser:
      username: postgres
      password: secret
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 scram-sha-256

tags:
  nofailover: false # set by the bed
  noloadbalance: false
  clonefrom: false
  nosync: false
`

func TestEditTags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		src   string
		set   map[string]any
		clear []string
		want  string // the tail of the file from "tags:"
	}{
		{"set in place, comment kept", config, map[string]any{"nofailover": true}, nil,
			"tags:\n  nofailover: true # set by the bed\n  noloadbalance: false\n  clonefrom: false\n  nosync: false\n"},
		{"add, clear", config, map[string]any{"failover_priority": int64(2), "zone": "yes"}, []string{"clonefrom", "nosync"},
			"tags:\n  nofailover: false # set by the bed\n  noloadbalance: false\n  failover_priority: 2\n  zone: \"yes\"\n"},
		{"no tags section", "scope: demo\nname: pg1\n", map[string]any{"nosync": true}, nil,
			"tags:\n  nosync: true\n"},
		{"empty tags section", "scope: demo\ntags:\n", map[string]any{"replicatefrom": "pg2"}, nil,
			"tags:\n  replicatefrom: pg2\n"},
		{"clear the last", "scope: demo\ntags:\n  nosync: true\n", nil, []string{"nosync", "absent"},
			"tags: {}\n"},
	} {
		got, err := editTags([]byte(tc.src), tc.set, tc.clear)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		i := strings.Index(string(got), "tags:")
		if i < 0 || string(got[i:]) != tc.want {
			t.Errorf("%s: got\n%s\nwant tail\n%s", tc.name, got, tc.want)
		}
		// yaml drops blank lines; the rest of the file is kept as it was
		if strings.HasPrefix(tc.src, "#") && !strings.HasPrefix(string(got), strings.ReplaceAll(config[:strings.Index(config, "tags:")], "\n\n", "\n")) {
			t.Errorf("%s: the rest of the file changed:\n%s", tc.name, got)
		}
	}
}

func TestEditTagsRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"- a\n- b\n", "not a YAML mapping of Patroni settings"},
		{"tags: [a]\n", "its tags (line 1) are not a mapping"},
		{"scope: [\n", "not valid YAML: yaml: line 1: did not find expected node content"},
	} {
		_, err := editTags([]byte(tc.src), map[string]any{"nosync": true}, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestCheckTag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"nofailover", true, ""},
		{"nofailover", "yes", `must be true or false, found the string "yes"`},
		{"nostream", int64(1), "must be true or false, found 1"},
		{"failover_priority", int64(0), ""},
		{"failover_priority", int64(-1), "must be 0 or more, found -1"},
		{"failover_priority", 1.5, "must be an integer, 0 or more, found 1.5"},
		{"failover_priority", "${p.n}", ""},
		{"replicatefrom", "pg2", ""},
		{"replicatefrom", true, "must be a member's name, found true"},
		{"zone", "b", ""},
		{"weight", 0.5, ""},
		{"zone", nil, "has no value: to remove the tag, name it in clear"},
		{"zone", map[string]any{"a": "b"}, "must be a single value (text, number or true/false), found a mapping"},
	} {
		if got := checkTag(tc.name, tc.v); got != tc.want {
			t.Errorf("%s=%v: %q, want %q", tc.name, tc.v, got, tc.want)
		}
	}
}

func TestTagsDiffer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reported map[string]any
		set      map[string]any
		clear    []string
		want     string
	}{
		// Patroni omits a predefined boolean tag that is false...
		{map[string]any{}, map[string]any{"nofailover": false, "nostream": false}, nil, ""},
		// ...3.2 and later keep nofailover: false beside failover_priority...
		{map[string]any{"nofailover": false, "failover_priority": float64(2)}, map[string]any{"nofailover": false, "failover_priority": int64(2)}, nil, ""},
		// ...but a tag of one's own that is false is reported.
		{map[string]any{}, map[string]any{"canary": false}, nil, "no tag canary yet (tags: (none))"},
		{map[string]any{"nofailover": true}, map[string]any{"nofailover": true}, []string{"nosync"}, ""},
		{map[string]any{"nosync": true}, map[string]any{"nofailover": true}, nil, "no tag nofailover yet (tags: nosync=true)"},
		{map[string]any{"failover_priority": float64(1)}, map[string]any{"failover_priority": int64(3)}, nil, "tag failover_priority is 1, waiting for 3"},
		{map[string]any{"nosync": true}, nil, []string{"nosync"}, "tag nosync is still true"},
	} {
		if got := tagsDiffer(tc.reported, tc.set, tc.clear); got != tc.want {
			t.Errorf("%v vs set %v clear %v: %q, want %q", tc.reported, tc.set, tc.clear, got, tc.want)
		}
	}
}

func TestUndoPatch(t *testing.T) {
	t.Parallel()
	old := map[string]any{"ttl": float64(30), "synchronous_mode": false,
		"postgresql": map[string]any{"use_slots": true, "parameters": map[string]any{"max_connections": float64(100)}}}
	patch := map[string]any{"ttl": int64(10), "synchronous_mode": "quorum", "failsafe_mode": true,
		"postgresql": map[string]any{"parameters": map[string]any{"shared_buffers": "160MB", "max_connections": int64(200)}}}
	got := undoPatch(old, patch)
	want := `{"failsafe_mode":null,"postgresql":{"parameters":{"max_connections":100,"shared_buffers":null}},"synchronous_mode":false,"ttl":30}`
	if string(mustJSON(t, got)) != want {
		t.Errorf("undo = %s\nwant   %s", mustJSON(t, got), want)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
