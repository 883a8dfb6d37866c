package cluster

import (
	"errors"
	"fmt"
	"testing"
)

// TestReaddressed: every address of the block goes through the function,
// with the scheme's port when none is given; the original block is not
// changed; an address a forward cannot carry is an error naming its field.
func TestReaddressed(t *testing.T) {
	c := &Cluster{
		Patroni:    []string{"http://patroni-0:8008"},
		PooledDSN:  "postgres://postgres:pw@pgbouncer:6432/fileshare?sslmode=disable",
		ReplicaDSN: "postgres://postgres:pw@replicas/fileshare",
		Members: map[string]MemberConfig{
			"patroni-1": {API: "http://patroni-1:8008/", DSN: "postgresql://postgres@patroni-1/db"},
		},
	}
	asked := map[string]bool{}
	got, err := c.Readdressed(func(_, host string, port int) (string, error) {
		asked[fmt.Sprintf("%s:%d", host, port)] = true
		return fmt.Sprintf("127.0.0.1:%d", 10000+port), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Cluster{
		Patroni:    []string{"http://127.0.0.1:18008"},
		PooledDSN:  "postgres://postgres:pw@127.0.0.1:16432/fileshare?sslmode=disable",
		ReplicaDSN: "postgres://postgres:pw@127.0.0.1:15432/fileshare",
		Members: map[string]MemberConfig{
			"patroni-1": {API: "http://127.0.0.1:18008/", DSN: "postgresql://postgres@127.0.0.1:15432/db"},
		},
	}
	if fmt.Sprint(got.Patroni, got.PooledDSN, got.ReplicaDSN, got.Members) != fmt.Sprint(want.Patroni, want.PooledDSN, want.ReplicaDSN, want.Members) {
		t.Errorf("Readdressed =\n%v %v %v %v\nwant\n%v %v %v %v", got.Patroni, got.PooledDSN, got.ReplicaDSN, got.Members, want.Patroni, want.PooledDSN, want.ReplicaDSN, want.Members)
	}
	for _, hp := range []string{"patroni-0:8008", "pgbouncer:6432", "replicas:5432", "patroni-1:8008", "patroni-1:5432"} {
		if !asked[hp] {
			t.Errorf("no forward asked for %s (asked: %v)", hp, asked)
		}
	}
	if c.Patroni[0] != "http://patroni-0:8008" || c.Members["patroni-1"].API != "http://patroni-1:8008/" {
		t.Errorf("Readdressed changed the original block: %v %v", c.Patroni, c.Members)
	}

	refused := errors.New("no pod and no Service of that name")
	tests := []struct {
		name string
		c    Cluster
		to   error
		want string
	}{
		{"keyword DSN", Cluster{PooledDSN: "host=pgbouncer password=secret"}, nil,
			"pooled_dsn: is not a URL with a host, which a port-forward needs: write it as scheme://host:port/... (e.g. postgres://user:pass@patroni-0:5432/db)"},
		{"several hosts", Cluster{Members: map[string]MemberConfig{"m": {DSN: "postgres://u:secret@a:5432,b:5432/db"}}}, nil,
			`members.m.dsn: "postgres://u:xxxxx@a:5432,b:5432/db" names several hosts: a port-forward reaches one; name a Service instead`},
		{"no port, unknown scheme", Cluster{Patroni: []string{"tcp://patroni-0"}}, nil, `patroni[0]: "tcp://patroni-0" gives no port`},
		{"the forward fails", Cluster{Patroni: []string{"http://nope:8008"}}, refused, "patroni[0]: no pod and no Service of that name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Readdressed(func(string, string, int) (string, error) { return "127.0.0.1:1", tt.to })
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant %s", err, tt.want)
			}
		})
	}
}
