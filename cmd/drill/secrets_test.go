package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drill-dev/drill/internal/app/report"
)

// leakScenario puts the secret var token in a shell step's env (as is and
// inside a DSN), its stdout and a failing command's message, in an HTTP
// step's URL, header and body whose answer echoes it JSON-escaped (also in
// a failed step's message), and in the values a failed check saw.
const leakScenario = `name: leak
vars:
  token: {default: placeholder, secret: true}
  base: http://127.0.0.1:1
steps:
  - id: sh
    name: env and stdout
    kind: shell
    command: printf '%s\n' "$PGPASSWORD" "$DATABASE_URL"
    env:
      PGPASSWORD: "${token}"
      DATABASE_URL: "postgres://app:${token}@127.0.0.1:1/db?sslmode=disable password=${token}"
  - name: url, header and body
    kind: http
    method: POST
    url: "${base}/echo?t=${token}"
    headers: {X-Token: "${token}"}
    body: {password: "${token}"}
    continue_on_error: true
  - name: a failed answer
    kind: http
    url: "${base}/fail"
    headers: {X-Token: "${token}"}
    continue_on_error: true
  - name: a failed command
    kind: shell
    command: "exit 3 # ${token}"
    continue_on_error: true
checks:
  - sh.stdout == ""
`

// TestSecretsNeverLeak is a property test: for secrets drawn from printable
// ASCII and non-ASCII runes, weighted towards the characters that encoders
// escape (& < > " \ % + / space), no spelling of the secret (raw, Go-quoted,
// JSON-, XML- or URL-encoded) appears on stdout or stderr (console, -v logs
// as text or JSON), in the JUnit file, in the JSON journal, or in --dry-run.
func TestSecretsNeverLeak(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(r.URL.Path, "/fail") {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"header": r.Header.Get("X-Token"), "query": r.URL.RawQuery, "body": string(body)})
	}))
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "leak.yaml")
	if err := os.WriteFile(file, []byte(leakScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NO_COLOR", "1")

	rng := rand.New(rand.NewSource(20261202))
	const cases = 120
	for i := range cases {
		secret := randomSecret(rng)
		format := []string{"text", "json"}[i%2]
		junit, journal := filepath.Join(dir, "run.xml"), filepath.Join(dir, "run.json")
		outputs := map[string]string{}
		var stdout, stderr bytes.Buffer
		code := Main([]string{"run", file, "-v", "--log-format", format, "--junit", junit, "--json", journal,
			"--state-dir", filepath.Join(dir, "state"), "--var", "token=" + secret, "--var", "base=" + srv.URL}, nil, &stdout, &stderr)
		if code != report.ExitCheckFailed {
			t.Fatalf("case %d, secret %q: exit code %d, want 1\nstdout:\n%s\nstderr:\n%s", i, secret, code, stdout.String(), stderr.String())
		}
		outputs["stdout"], outputs["stderr ("+format+" logs)"] = stdout.String(), stderr.String()
		for _, f := range []string{junit, journal} {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			outputs[filepath.Base(f)] = string(data)
		}
		stdout.Reset()
		stderr.Reset()
		if code := Main([]string{"run", file, "--dry-run", "--var", "token=" + secret}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("case %d: --dry-run exit code %d: %s", i, code, stderr.String())
		}
		outputs["--dry-run"] = stdout.String() + stderr.String()
		for name, out := range outputs {
			if !strings.Contains(out, "***") {
				t.Errorf("case %d: %s masks nothing: the scenario did not put the secret there", i, name)
			}
			for _, sp := range report.Spellings(secret) {
				if at := strings.Index(out, sp); at >= 0 {
					t.Errorf("case %d, secret %q: %s holds it as %q: ...%s...", i, secret, name, sp, out[max(at-80, 0):min(at+len(sp)+80, len(out))])
				}
			}
		}
		if t.Failed() {
			return
		}
	}
}

// secretRunes are the characters secrets are drawn from; special ones are
// drawn a third of the time.
var (
	specialRunes = []rune(`&<>"\%+/ '#;=@:?`)
	otherRunes   = []rune("éßüñΩ€日本語😀" + func() string {
		var b strings.Builder
		for r := rune(0x21); r < 0x7f; r++ {
			b.WriteRune(r)
		}
		return b.String()
	}())
)

// randomSecret returns 8 to 20 runes, without "${" (a reference in a var's
// value) and not blank at either end (the shell's env and YAML keep it, but
// a secret is not spaces).
func randomSecret(rng *rand.Rand) string {
	for {
		n := 8 + rng.Intn(13)
		rs := make([]rune, n)
		for i := range rs {
			if rng.Intn(3) == 0 {
				rs[i] = specialRunes[rng.Intn(len(specialRunes))]
			} else {
				rs[i] = otherRunes[rng.Intn(len(otherRunes))]
			}
		}
		s := string(rs)
		if !strings.Contains(s, "${") && strings.TrimSpace(s) == s {
			return s
		}
	}
}

func TestRandomSecretDraws(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(1))
	seen := map[rune]bool{}
	for range 200 {
		for _, r := range randomSecret(rng) {
			seen[r] = true
		}
	}
	for _, r := range `&<>"\%+/ é日😀` {
		if !seen[r] {
			t.Errorf("200 secrets never drew %q", r)
		}
	}
}
