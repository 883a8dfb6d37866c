package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/internal/metric"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must return a scenario or
// errors, never panic or hang.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(validScenario))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := LoadScenario("fuzz.yaml", data, map[string]string{"limit": "3"}, map[string]bool{})
		if (l == nil) == (err == nil) {
			t.Fatalf("LoadScenario returned scenario %v and error %v", l != nil, err)
		}
	})
}

// FuzzCompile feeds arbitrary expressions to the check compiler and
// evaluates what compiles: no panic, whatever the input.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"rto_s < 60", "lag_mb < 1 && rto_s < 60", `leader != "" && len(members) == 3`,
		"stop.fault_at < now()", "mb(lag_bytes) < 1", "between(rto_s, 1, 60)", "vars.limit > 1", "rto_s <", "((("} {
		f.Add(s)
	}
	schema := assertions.NewSchema()
	schema.Add("stop", []metric.Spec{{Name: "rto_s", Type: metric.Number}, {Name: "leader", Type: metric.String},
		{Name: "members", Type: metric.StringList}, {Name: "fault_at", Type: metric.Time}, {Name: "lag_bytes", Type: metric.Number}})
	schema.Vars["limit"] = int64(3)
	store := metric.NewStore()
	_ = store.Record("stop", "rto_s", metric.Number, 12.5, fixedTime)
	_ = store.Record("stop", "leader", metric.String, "postgres-standby1", fixedTime)
	f.Fuzz(func(t *testing.T, src string) {
		c, err := assertions.Compile(src, schema)
		if err != nil {
			return
		}
		_, _ = c.Eval(store, map[string]any{"limit": int64(3)})
	})
}

// BenchmarkLoadDir loads and validates a directory of 100 scenarios, the
// way drill validate does.
func BenchmarkLoadDir(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < 100; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("s%03d.yaml", i)), []byte(validScenario), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	benchLoad(b, dir)
}

// benchLoad measures Load of the 100 scenarios in dir.
func benchLoad(b *testing.B, dir string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loaded, err := Load([]string{dir}, nil)
		if err != nil || len(loaded) != 100 {
			b.Fatalf("loaded %d: %v", len(loaded), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/scenario")
}
