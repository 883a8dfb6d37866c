// Package logs holds the kinds that read a member's log through the
// platform (docker logs, journalctl on hosts): wait until a line matches a
// pattern, and assert that no line matched during a window. Patroni's own
// messages ("promoted self to leader by acquiring session lock", "demoted
// self because ...") become measurable.
package logs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/steps"
)

func init() {
	steps.Register(steps.Kind{
		Name:    "log.wait",
		Needs:   []platform.Capability{platform.Logs},
		Summary: "wait until a member's log has a line matching a pattern",
		Doc: "Reads the member's log (container logs, or the journal of its units on hosts) from after's fault_at " +
			"(else from this step's start) until a line matches pattern (a Go regular expression), polling every " +
			"interval. Records when the line was written (the log's own timestamp) and each named capture " +
			"((?P<name>...)) as a metric.",
		Example: "kind: log.wait\ntarget: member:postgres-standby1\npattern: promoted self to leader\nafter: stop",
		New:     func() steps.Step { return &Wait{Interval: 500 * time.Millisecond} },
		Timeout: 2 * time.Minute,
		Metrics: []metric.Spec{
			{Name: "matched_at", Type: metric.Time, Doc: "when the matching line was written, by the log's own timestamp", Resolution: "the log's timestamps (microseconds)"},
			{Name: "line", Type: metric.String, Doc: "the matching line"},
			{Name: "after_s", Type: metric.Number, Doc: "matched_at minus the start of the window (after's fault_at)"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "log.absent",
		Needs:   []platform.Capability{platform.Logs},
		Summary: "fail if a member's log has a line matching a pattern in a window",
		Doc: "Reads the member's log from after's fault_at (else from this step's start), waiting `for` first when " +
			"it is given, and fails if any line matches pattern. Records how many lines matched (0 when it passes).",
		Example: "kind: log.absent\ntarget: any_replica\npattern: \"FATAL\"\nafter: stop\nfor: 10s",
		New:     func() steps.Step { return &Absent{} },
		Timeout: 2 * time.Minute,
		Metrics: []metric.Spec{
			{Name: "matches", Type: metric.Number, Doc: "lines that matched the pattern in the window"},
			{Name: "window_s", Type: metric.Number, Doc: "how long the window was"},
		},
	})
}

// window is what both kinds share: a member, a pattern and where the
// window starts. The kinds' parameters fill it in.
type window struct {
	target  string
	index   int
	pattern string
	after   string
	re      *regexp.Regexp
}

func newWindow(target string, index int, pattern, after string) (window, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return window{}, steps.FieldErrorf("pattern", "not a regular expression: %v", err)
	}
	return window{target: target, index: index, pattern: pattern, after: after, re: re}, steps.ValidateUnit(target, index)
}

// build checks at load time that after names an earlier step that records
// fault_at.
func (w *window) build(bc *steps.BuildContext) error {
	if w.after == "" || bc.CheckRef == nil {
		return nil
	}
	if err := bc.CheckRef(dsl.Ref{Step: w.after, Name: "fault_at"}); err != nil {
		return steps.FieldErrorf("after", "%v", err)
	}
	return nil
}

// since is where the window starts.
func (w *window) since(env *steps.Env, stepStart time.Time) (time.Time, error) {
	if w.after == "" {
		return stepStart, nil
	}
	s, ok := env.Latest(w.after, "fault_at")
	if !ok {
		return time.Time{}, fmt.Errorf("after: step %q recorded no fault_at (it did not inject its fault)", w.after)
	}
	return s.Value.(time.Time), nil
}

// read returns the member's log lines written at or after since.
func (w *window) read(ctx context.Context, env *steps.Env, since time.Time) ([]line, steps.Victim, error) {
	p, vs, err := env.Victims(ctx, w.target, w.index)
	if err != nil {
		return nil, steps.Victim{}, err
	}
	if len(vs) != 1 {
		return nil, steps.Victim{}, fmt.Errorf("%q is %d members; read one: use any_replica, member:NAME or index", w.target, len(vs))
	}
	out, err := p.Logs(ctx, vs[0].Unit, since)
	if err != nil {
		return nil, vs[0], err
	}
	var lines []line
	for _, l := range parse(out) {
		if !l.at.Before(since) {
			lines = append(lines, l)
		}
	}
	return lines, vs[0], nil
}

// Wait waits for a matching line.
type Wait struct {
	Target   string        `yaml:"target" target:"unit,one" required:"true" doc:"whose log: a service, or leader, any_replica, sync_standby or member:NAME (one member)"`
	Index    int           `yaml:"index" doc:"container number of a scaled service"`
	Pattern  string        `yaml:"pattern" required:"true" doc:"Go regular expression matched against each line; named groups (?P<name>...) become metrics"`
	After    string        `yaml:"after" doc:"id of an earlier fault step: the window starts at its fault_at (default: when this step starts)"`
	Interval time.Duration `yaml:"interval" doc:"time between reads of the log"`

	window
}

// Validate compiles the pattern and checks the captures' names.
func (s *Wait) Validate() error {
	var err error
	if s.window, err = newWindow(s.Target, s.Index, s.Pattern, s.After); err != nil {
		return err
	}
	for _, name := range s.re.SubexpNames()[1:] {
		if name != "" && (!dsl.IsIdent(name) || slices.Contains([]string{"matched_at", "line", "after_s"}, name)) {
			return steps.FieldErrorf("pattern", "capture name %q: use letters, digits and underscores, and none of matched_at, line, after_s", name)
		}
	}
	if s.Interval <= 0 {
		return steps.FieldErrorf("interval", "must be more than 0")
	}
	return nil
}

// Build checks after.
func (s *Wait) Build(bc *steps.BuildContext) error { return s.build(bc) }

// DeclaredMetrics adds one string metric per named capture.
func (s *Wait) DeclaredMetrics() []metric.Spec {
	var out []metric.Spec
	re, err := regexp.Compile(s.Pattern)
	if err != nil {
		return nil
	}
	for _, name := range re.SubexpNames()[1:] {
		if name != "" {
			out = append(out, metric.Spec{Name: name, Type: metric.String, Doc: "captured by (?P<" + name + ">...) from the matching line"})
		}
	}
	return out
}

// Run polls the log until a line matches.
func (s *Wait) Run(ctx context.Context, env *steps.Env) error {
	since, err := s.since(env, time.Now())
	if err != nil {
		return err
	}
	return steps.Poll(ctx, env, s.Interval, fmt.Sprintf("a log line matching %q", s.pattern), func() (bool, string, error) {
		lines, v, err := s.read(ctx, env, since)
		if err != nil {
			return false, err.Error(), nil // the member may be down for a while: keep polling
		}
		for _, l := range lines {
			m := s.re.FindStringSubmatch(l.text)
			if m == nil {
				continue
			}
			values := map[string]any{"matched_at": l.at, "line": l.text, "after_s": l.at.Sub(since).Seconds()}
			for i, name := range s.re.SubexpNames() {
				if i > 0 && name != "" {
					values[name] = m[i]
				}
			}
			env.Logf("%s logged at %s (%.3f s after the window opened): %s", v, l.at.UTC().Format(time.RFC3339Nano), l.at.Sub(since).Seconds(), l.text)
			return true, "", env.RecordAll(values)
		}
		return false, fmt.Sprintf("%d lines since %s, none matches", len(lines), since.UTC().Format("15:04:05.000")), nil
	})
}

// Absent fails on a matching line.
type Absent struct {
	Target  string        `yaml:"target" target:"unit,one" required:"true" doc:"whose log: a service, or leader, any_replica, sync_standby or member:NAME (one member)"`
	Index   int           `yaml:"index" doc:"container number of a scaled service"`
	Pattern string        `yaml:"pattern" required:"true" doc:"Go regular expression matched against each line"`
	After   string        `yaml:"after" doc:"id of an earlier fault step: the window starts at its fault_at (default: when this step starts)"`
	For     time.Duration `yaml:"for" doc:"watch this long before reading the log (default: read what is there now)"`

	window
}

// Validate compiles the pattern.
func (s *Absent) Validate() (err error) {
	s.window, err = newWindow(s.Target, s.Index, s.Pattern, s.After)
	return err
}

// Build checks after.
func (s *Absent) Build(bc *steps.BuildContext) error { return s.build(bc) }

// DefaultTimeout leaves room for the watch.
func (s *Absent) DefaultTimeout() time.Duration { return s.For + time.Minute }

// Run waits for the window to end, then reads it.
func (s *Absent) Run(ctx context.Context, env *steps.Env) error {
	start := time.Now()
	since, err := s.since(env, start)
	if err != nil {
		return err
	}
	if s.For > 0 {
		env.Report("watching the log for %s", s.For)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.For):
		}
	}
	lines, v, err := s.read(ctx, env, since)
	if err != nil {
		return err
	}
	var hits []line
	for _, l := range lines {
		if s.re.MatchString(l.text) {
			hits = append(hits, l)
		}
	}
	if err := env.RecordAll(map[string]any{"matches": len(hits), "window_s": time.Since(since).Seconds()}); err != nil {
		return err
	}
	if len(hits) > 0 {
		return fmt.Errorf("%s logged %d lines matching %q in the window; the first at %s: %s", v, len(hits), s.Pattern, hits[0].at.UTC().Format(time.RFC3339Nano), hits[0].text)
	}
	env.Logf("no line matching %q in %d lines of %s since %s", s.Pattern, len(lines), v, since.UTC().Format(time.RFC3339Nano))
	return nil
}

// line is one log line and when it was written.
type line struct {
	at   time.Time
	text string
}

// stampLayouts are the timestamps that start a line of the platforms' logs:
// docker logs --timestamps, and journalctl -o short-iso-precise (with and
// without the colon in the zone).
var stampLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999-0700", "2006-01-02T15:04:05.999999Z0700"}

// parse splits a log into lines with their timestamps; a line without one
// (a continuation) takes the previous line's.
func parse(out []byte) []line {
	var lines []line
	var last time.Time
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		stamp, rest, _ := strings.Cut(text, " ")
		for _, layout := range stampLayouts {
			if t, err := time.Parse(layout, stamp); err == nil {
				last, text = t, rest
				break
			}
		}
		if strings.TrimSpace(text) != "" {
			lines = append(lines, line{at: last, text: text})
		}
	}
	return lines
}

var (
	_ steps.Validator      = (*Wait)(nil)
	_ steps.Builder        = (*Wait)(nil)
	_ steps.MetricDeclarer = (*Wait)(nil)
	_ steps.Validator      = (*Absent)(nil)
	_ steps.Builder        = (*Absent)(nil)
	_ steps.Timeouter      = (*Absent)(nil)
)
