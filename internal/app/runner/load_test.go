package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drill-dev/drill/dsl"
)

// TestInvalidCorpus loads every malformed scenario of testdata/invalid and
// compares the errors, exactly, with the file's "# want:" lines.
func TestInvalidCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("the corpus has %d scenarios; keep at least 40", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					want = append(want, strings.ReplaceAll(w, "FILE", file))
				}
			}
			if len(want) == 0 {
				t.Fatal("no # want: line")
			}
			_, err = Load([]string{file}, nil)
			var list dsl.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load: got %v, want a dsl.ErrorList", err)
			}
			got := strings.Split(list.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors differ\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
