package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Check reports.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper()                         {}
func (r *recorder) Name() string                    { return "TestSomething/sub" }
func (r *recorder) Logf(format string, args ...any) {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.fatal = true
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.golden")
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := &recorder{TB: t}
	Check(r, path, []byte("a\nb\nc\n"))
	if len(r.errors) != 0 {
		t.Errorf("equal output: %q", r.errors)
	}

	r = &recorder{TB: t}
	Check(r, path, []byte("a\nB\nc\n"))
	if len(r.errors) != 1 {
		t.Fatalf("different output: %d errors, want 1", len(r.errors))
	}
	for _, want := range []string{path, "go test -run '^TestSomething$' -update", "first difference at line 2:", `want: "b\n"`, `got: "B\n"`, "-b\n+B\n"} {
		if !strings.Contains(r.errors[0], want) {
			t.Errorf("the report lacks %q:\n%s", want, r.errors[0])
		}
	}

	r = &recorder{TB: t}
	Check(r, filepath.Join(t.TempDir(), "missing.golden"), []byte("x"))
	if !r.fatal || !strings.Contains(r.errors[0], "-update creates it") {
		t.Errorf("a missing file: fatal %v, %q", r.fatal, r.errors)
	}
}

// TestCheckUpdate sets the package's -update flag: not parallel.
func TestCheckUpdate(t *testing.T) {
	defer func(old bool) { *update = old }(*update)
	*update = true
	path := filepath.Join(t.TempDir(), "new", "out.golden")
	r := &recorder{TB: t}
	Check(r, path, []byte("fresh\n"))
	if len(r.errors) != 0 {
		t.Fatalf("-update: %q", r.errors)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "fresh\n" {
		t.Errorf("-update wrote %q, %v", data, err)
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, want, got, diff string }{
		{"changed line", "1\n2\n3\n4\n5\n6\n7\n", "1\n2\n3\nfour\n5\n6\n7\n",
			"first difference at line 4:\n  want: \"4\\n\"\n   got: \"four\\n\"\n--- want\n+++ got\n...\n 2\n 3\n-4\n+four\n 5\n 6\n...\n"},
		{"added at the end", "1\n", "1\n2\n",
			"want ends at line 1; got goes on with \"2\\n\"\n--- want\n+++ got\n 1\n+2\n"},
		{"removed at the start", "0\n1\n", "1\n",
			"first difference at line 1:\n  want: \"0\\n\"\n   got: \"1\\n\"\n--- want\n+++ got\n-0\n 1\n"},
		{"no final newline", "x\n", "x",
			"first difference at line 1:\n  want: \"x\\n\"\n   got: \"x\\n\\\\ No newline at end of file\\n\"\n--- want\n+++ got\n-x\n+x\n\\ No newline at end of file\n"},
	} {
		if got := Diff([]byte(c.want), []byte(c.got)); got != c.diff {
			t.Errorf("%s:\n%s\nwant:\n%s", c.name, got, c.diff)
		}
	}
}
