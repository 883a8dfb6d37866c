package layers

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/drill-dev/drill"

// rule forbids the packages matching from (a module-relative prefix, "" for
// every package) to import those matching any of deny, except the packages
// listed in allow (module-relative prefixes). Test files are held to the
// library rules only where they build drill code (see TestImportRules).
type rule struct {
	why   string
	from  string
	deny  []string // import path prefixes, absolute
	allow []string // module-relative prefixes of packages allowed to
}

// rules are drill's layering rules. Exactly one package talks to each
// outside system; its test helpers (dockertest, pgtest) and the benchmark
// that drives pgbench beside drill may use the same library.
var rules = []rule{
	{why: "only internal/client/docker talks to the Docker Engine API", deny: []string{"github.com/docker/docker", "github.com/docker/go-connections"},
		allow: []string{"internal/client/docker"}},
	{why: "only internal/client/pg talks to PostgreSQL", deny: []string{"github.com/jackc/pgx"},
		allow: []string{"internal/client/pg", "bench/insertbench"}},
	{why: "only internal/client/ssh talks SSH", deny: []string{"golang.org/x/crypto/ssh"},
		allow: []string{"internal/client/ssh"}},
	{why: "only internal/client/kube talks to Kubernetes", deny: []string{"k8s.io/"},
		allow: []string{"internal/client/kube"}},
	{why: "dsl is syntax only: it imports no other drill package", from: "dsl", deny: []string{module + "/"}},
	{why: "internal/timeline is plain data that steps and reports share: it imports no other drill package", from: "internal/timeline", deny: []string{module + "/"}},
	{why: "the clients of outside systems know nothing of drill's upper layers", from: "internal/client",
		deny: []string{module + "/steps", module + "/internal/app", module + "/internal/platform", module + "/internal/fault", module + "/cmd"}},
	{why: "step kinds speak to the platform seam, not to a platform's client", from: "steps",
		deny: []string{module + "/internal/client/docker", module + "/internal/platform/", module + "/internal/app"}, allow: []string{"steps/all"}},
	{why: "the platform seam and the fault package sit below the steps", from: "internal/platform",
		deny: []string{module + "/steps", module + "/internal/app"}},
	{why: "the fault package sits below the steps", from: "internal/fault",
		deny: []string{module + "/steps", module + "/internal/app", module + "/internal/client"}},
}

// pkg is what go list says of one package.
type pkg struct {
	ImportPath string
	Imports    []string
}

// violations lists every import that breaks a rule, as "pkg imports x: why".
func violations(pkgs []pkg, rules []rule) []string {
	var out []string
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, r := range rules {
			if !under(rel, r.from) || slices.ContainsFunc(r.allow, func(a string) bool { return under(rel, a) }) {
				continue
			}
			for _, imp := range p.Imports {
				for _, d := range r.deny {
					if strings.HasPrefix(imp, d) && imp != p.ImportPath {
						out = append(out, p.ImportPath+" imports "+imp+": "+r.why)
					}
				}
			}
		}
	}
	return out
}

// under reports whether the module-relative path rel is prefix or inside it.
func under(rel, prefix string) bool {
	return prefix == "" || rel == prefix || strings.HasPrefix(rel, prefix+"/")
}

// TestImportRules checks every package of the module (its non-test code)
// against the rules.
func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages: the module is not where the test runs", len(pkgs))
	}
	for _, v := range violations(pkgs, rules) {
		t.Error(v)
	}
}

// TestRulesCatchViolations shows that each kind of rule fails when broken:
// the checker itself is tested on made-up packages.
func TestRulesCatchViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pkg  pkg
		want []string
	}{
		{pkg{module + "/steps/member", []string{"github.com/docker/docker/client"}},
			[]string{module + "/steps/member imports github.com/docker/docker/client: only internal/client/docker talks to the Docker Engine API"}},
		{pkg{module + "/steps/sql", []string{"github.com/jackc/pgx/v5"}},
			[]string{module + "/steps/sql imports github.com/jackc/pgx/v5: only internal/client/pg talks to PostgreSQL"}},
		{pkg{module + "/steps/network", []string{module + "/internal/platform/compose"}},
			[]string{module + "/steps/network imports " + module + "/internal/platform/compose: step kinds speak to the platform seam, not to a platform's client"}},
		{pkg{module + "/dsl", []string{"go.yaml.in/yaml/v3", module + "/internal/metric"}},
			[]string{module + "/dsl imports " + module + "/internal/metric: dsl is syntax only: it imports no other drill package"}},
		{pkg{module + "/internal/client/patroni", []string{module + "/steps"}},
			[]string{module + "/internal/client/patroni imports " + module + "/steps: the clients of outside systems know nothing of drill's upper layers"}},
		{pkg{module + "/internal/client/docker", []string{"github.com/docker/docker/client"}}, nil},
		{pkg{module + "/steps/all", []string{module + "/internal/platform/compose"}}, nil},
	}
	for _, tc := range tests {
		got := violations([]pkg{tc.pkg}, rules)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s importing %v:\n got %q\nwant %q", tc.pkg.ImportPath, tc.pkg.Imports, got, tc.want)
		}
	}
}
