package report

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/metric"
)

// TestMaskSpellings: each known spelling of a secret is masked, whichever
// writer or message produced it.
func TestMaskSpellings(t *testing.T) {
	t.Parallel()
	const secret = `p&<>"\ é+/%`
	m := NewMasker([]string{secret, "short", "s@cret"})
	for _, tc := range []struct{ name, in, want string }{
		{"raw", "pw=" + secret + ".", "pw=***."},
		{"Go-quoted", `"echo p&<>\"\\ é+/%" exited with 1`, `"echo ***" exited with 1`},
		{"Go-quoted ASCII", `p&<>\"\\ \u00e9+/%`, `***`},
		{"JSON, HTML-escaped", `{"v":"p\u0026\u003c\u003e\"\\ é+/%"}`, `{"v":"***"}`},
		{"JSON", `{"v":"p&<>\"\\ é+/%"}`, `{"v":"***"}`},
		{"XML", `<a b="p&amp;&lt;&gt;&#34;\ é+/%"/>`, `<a b="***"/>`},
		{"query", `?t=p%26%3C%3E%22%5C+%C3%A9%2B%2F%25&x=1`, `?t=***&x=1`},
		{"path", `/p&%3C%3E%22%5C%20%C3%A9+%2F%25/x`, `/***/x`},
		{"longest first", "short" + secret, "******"},
		{"secret with @ in a URL", "postgres://app:s@cret@db/x", "postgres://app:***@db/x"},
	} {
		if got := m.Mask(tc.in); got != tc.want {
			t.Errorf("%s: Mask(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestMaskedCopies: Masked masks every string of the model, inside
// pointers, slices, maps and interfaces, and leaves the original alone.
func TestMaskedCopies(t *testing.T) {
	t.Parallel()
	m := NewMasker([]string{"s3cret"})
	run := &Run{Started: t0, Scenarios: []*Scenario{{
		Name: "has s3cret", Started: t0,
		Steps:   []*Step{{Name: "a", Message: "x s3cret", Log: "s3cret\n", Duration: time.Second}},
		Metrics: []metric.Sample{{Name: "json", Value: map[string]any{"s3cret": []any{"s3cret", 1.5}}}, {Name: "n", Value: 3}},
		Events:  []Event{{At: t0, Type: "step.end", Message: "s3cret"}},
	}}}
	got := Masked(m, run)
	s := got.Scenarios[0]
	if s.Name != "has ***" || s.Steps[0].Message != "x ***" || s.Steps[0].Log != "***\n" || s.Events[0].Message != "***" {
		t.Errorf("strings not masked: %+v %+v %+v", s, s.Steps[0], s.Events[0])
	}
	if v := s.Metrics[0].Value.(map[string]any); v["***"].([]any)[0] != "***" || v["***"].([]any)[1] != 1.5 {
		t.Errorf("metric value = %#v", v)
	}
	if s.Metrics[1].Value != 3 || !s.Started.Equal(t0) || s.Steps[0].Duration != time.Second {
		t.Errorf("other values changed: %v %v %v", s.Metrics[1].Value, s.Started, s.Steps[0].Duration)
	}
	if run.Scenarios[0].Name != "has s3cret" || run.Scenarios[0].Metrics[0].Value.(map[string]any)["s3cret"] == nil {
		t.Error("Masked changed its input")
	}
	if Masked[*Run](m, nil) != nil {
		t.Error("Masked(nil) is not nil")
	}
}

// TestMaskHandler: every part of a log record is masked before the inner
// handler encodes it, in text and JSON.
func TestMaskHandler(t *testing.T) {
	t.Parallel()
	const secret = `a&"\b`
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var inner slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		if format == "json" {
			inner = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		log := slog.New(MaskHandler(inner, NewMasker([]string{secret}))).With("dsn", "postgres://u:"+secret+"@h/db").WithGroup("g")
		log.Debug("msg "+secret, "err", errors.New("failed: "+secret), "list", []string{secret}, "bytes", []byte(secret),
			slog.Group("inner", "v", secret), secret, 1, "dur", time.Second)
		out := buf.String()
		for _, sp := range Spellings(secret) {
			if strings.Contains(out, sp) {
				t.Errorf("%s: the log holds %q: %s", format, sp, out)
			}
		}
		if strings.Count(out, "***") != 7 {
			t.Errorf("%s: want 7 masks (message, dsn, err, list, bytes, group, key): %s", format, out)
		}
	}
}

// TestConsoleSkippedScenario: a scenario that --fail-fast skipped says so.
func TestConsoleSkippedScenario(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	c := &Console{W: &buf}
	why := `--fail-fast: scenario "a" did not pass`
	s := &Scenario{Name: "b", File: "b.yaml", Aborted: why, Steps: []*Step{{Name: "nap", Kind: "sleep", Status: Skipped, Message: why}}}
	c.ScenarioStarted(s)
	c.StepFinished(s.Steps[0])
	c.ScenarioFinished(s)
	want := "scenario b (b.yaml)\n  - nap                              skipped: " + why + "\n  SKIPPED b: " + why + "\n\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// BenchmarkMaskedStep measures what the console and the writers pay per
// step: a masked copy of a step with a full 64 KiB log and three secrets.
func BenchmarkMaskedStep(b *testing.B) {
	m := NewMasker([]string{`p&<>"\ é+/%`, "tok3n", "hunter2"})
	st := &Step{Name: "load", Message: "GET http://app:hunter2@db/ failed", Log: strings.Repeat("inserted 100 rows in 3ms tok3n\n", 64<<10/31)}
	b.SetBytes(int64(len(st.Log)))
	for b.Loop() {
		Masked(m, st)
	}
}
