package runner

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/steps/host"
	"github.com/drill-dev/drill/steps/patroni"
)

// TestLoadRefusesSpecialFiles: only regular files of at most 1 MiB are
// read; a FIFO, a device or a directory where a file is expected is an error
// at once, never a hang or an endless read.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("name: big\n"+strings.Repeat("#", MaxFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub.yaml")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	withCluster := func(name, cluster string) string {
		path := filepath.Join(dir, name)
		src := "name: c\ncluster: " + cluster + "\nsteps:\n  - kind: sleep\n    duration: 1s\n"
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		path string
		want string
	}{
		{fifo, fifo + ": cannot read: it is a named pipe (FIFO), not a regular file"},
		{"/dev/null", "/dev/null: cannot read: it is a character device, not a regular file"},
		{big, big + ": cannot read: it is larger than 1 MiB, the limit for a scenario, cluster or var file"},
		{withCluster("c1.yaml", "fifo.yaml"), filepath.Join(dir, "c1.yaml") + ":2:10: cluster: cannot read " + fifo + ": it is a named pipe (FIFO), not a regular file"},
		{withCluster("c2.yaml", "sub.yaml"), filepath.Join(dir, "c2.yaml") + ":2:10: cluster: cannot read " + sub + ": it is a directory, not a YAML file"},
		{withCluster("c3.yaml", big), filepath.Join(dir, "c3.yaml") + ":2:10: cluster: cannot read " + big + ": it is larger than 1 MiB, the limit for a scenario, cluster or var file"},
	} {
		_, err := Load([]string{c.path}, nil)
		if err == nil || err.Error() != c.want {
			t.Errorf("Load(%s):\n got %v\nwant %s", c.path, err, c.want)
		}
	}
}

// TestVarsReferToVars: a var's default may use other vars; the value that
// reaches a step is resolved, typed when it is exactly one reference, and
// follows --var overrides.
func TestVarsReferToVars(t *testing.T) {
	t.Parallel()
	src := `name: vars
vars:
  url: postgres://${host}:${port}/db
  port: 5432
  again: ${port}
  host: db1
  literal: $${host}
steps:
  - kind: shell
    command: echo ${url}
`
	l, err := LoadScenario("v.yaml", []byte(src), map[string]string{"host": "db2"}, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"url": "postgres://db2:5432/db", "port": int64(5432), "again": int64(5432), "host": "db2", "literal": "${host}"}
	if !reflect.DeepEqual(l.Vars, want) {
		t.Errorf("vars:\n got %#v\nwant %#v", l.Vars, want)
	}
	if got := l.Steps[0].Step.(*host.Shell).Command; got != "echo postgres://db2:5432/db" {
		t.Errorf("command: got %q", got)
	}
}

// TestFreeFormValuesExpand: ${var} inside free-form parameters (an http
// body, a patroni.config patch) is replaced at load time, typed when whole;
// a ${step.metric} is checked at load time and replaced at run time.
func TestFreeFormValuesExpand(t *testing.T) {
	t.Parallel()
	src := `name: free form
vars:
  ttl: 10
  who: drill
steps:
  - id: first
    kind: shell
    command: echo hi
  - kind: http
    url: http://127.0.0.1:1/x
    body: {ttl: "${ttl}", note: "by ${who}", list: ["${ttl}", plain, 3], out: "${first.stdout}"}
  - kind: patroni.config
    set: {ttl: "${ttl}", loop_wait: 2}
`
	l, err := LoadScenario("f.yaml", []byte(src), nil, map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	step, err := l.Steps[1].Resolve(func(r dsl.Ref) (string, bool) { return "hello", r.String() == "${first.stdout}" })
	if err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{"ttl": int64(10), "note": "by drill", "list": []any{int64(10), "plain", int64(3)}, "out": "hello"}
	if got := step.(*host.HTTP).Body; !reflect.DeepEqual(got, wantBody) {
		t.Errorf("body:\n got %#v\nwant %#v", got, wantBody)
	}
	wantSet := map[string]any{"ttl": int64(10), "loop_wait": int64(2)}
	if got := l.Steps[2].Step.(*patroni.PatroniConfig).Set; !reflect.DeepEqual(got, wantSet) {
		t.Errorf("set:\n got %#v\nwant %#v", got, wantSet)
	}
}

// TestTargetsAccepted: what the target checks must not refuse.
func TestTargetsAccepted(t *testing.T) {
	t.Parallel()
	const cluster = `cluster:
  replica_dsn: postgres://postgres@127.0.0.1:15001/fileshare
  members:
    pg1: {service: postgres-1}
    pg2: {}
`
	for _, c := range []struct {
		cluster bool
		step    string
	}{
		{true, "kind: compose.stop\n    target: postgres-1"},
		{true, "kind: compose.stop\n    target: pg2"},
		{true, "kind: compose.stop\n    target: member:pg2"},
		{true, "kind: compose.stop\n    target: etcd"}, // a service the block need not list
		{true, "kind: network.partition\n    groups: [[leader], [replica, etcd, \"postgres-1#1\"]]"},
		{true, "kind: sql.query\n    sql: select 1\n    on: pooled"},
		{true, "kind: sql.query\n    sql: select 1\n    on: replica_route"},
		{true, "kind: sql.exec\n    sql: select 1\n    on: replica_route"},
		{true, "kind: reader.start\n    on: replica_route"},
		{true, "kind: watch.split_brain\n    members: all"},
		{true, "kind: patroni.wait_leader\n    member: pg1"},
		{false, "kind: compose.stop\n    target: member:anything"},
		{false, "kind: patroni.wait_leader\n    member: anything"},
		{false, "kind: compose.stop\n    target: postgres-mastr"},
	} {
		src := "name: t\n"
		if c.cluster {
			src += cluster
		}
		src += "steps:\n  - " + c.step + "\n"
		if _, err := LoadScenario("t.yaml", []byte(src), nil, map[string]bool{}); err != nil {
			t.Errorf("%s: %v", c.step, err)
		}
	}
}

// TestVarFileOverrideErrors: a var file's value of the wrong type is
// reported at the var file's position, and an unknown name too.
func TestVarFileOverrideErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(file, []byte("name: s\nvars:\n  rows: 10\nsteps:\n  - kind: sleep\n    duration: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := dsl.Pos{File: "vars.yaml", Line: 2, Col: 7}
	_, err := LoadFiles([]string{file}, map[string]Override{"rows": {Value: "many", Pos: at}}, nil)
	if want := "vars.yaml:2:7: rows: expected a whole number, as its default at " + file + ":3:3"; err == nil || err.Error() != want {
		t.Errorf("wrong type:\n got %v\nwant %s", err, want)
	}
	_, err = LoadFiles([]string{file}, map[string]Override{"rosw": {Value: "1", Pos: at}}, nil)
	var usage *UsageError
	if want := `vars.yaml:2:7: rosw: no scenario declares a var named "rosw"`; !errors.As(err, &usage) || err.Error() != want {
		t.Errorf("unknown name:\n got %v\nwant %s", err, want)
	}
}
