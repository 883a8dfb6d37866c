package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/procgroup"
	"github.com/drill-dev/drill/steps"
)

// The host kinds: http and shell.

func init() {
	steps.Register(steps.Kind{
		Name:    "http",
		Summary: "call an HTTP endpoint and capture its JSON answer",
		Doc: "Sends one request and fails unless the status is expected (any 2xx by default). " +
			"A JSON answer is recorded whole as json, and capture records chosen fields as metrics " +
			"(path: dot-separated keys and list indexes, e.g. members.0.name).",
		Example: "kind: http\nurl: http://127.0.0.1:18008/cluster\ncapture:\n  first_member: members.0.name",
		New:     func() steps.Step { return &HTTP{Method: "GET"} },
		Timeout: 10 * time.Second,
		Metrics: []metric.Spec{
			{Name: "status_code", Type: metric.Number, Doc: "HTTP status of the answer"},
			{Name: "body", Type: metric.String, Doc: "the answer's body (first 64 KiB)"},
			{Name: "json", Type: metric.Any, Doc: "the answer parsed as JSON, when it is JSON"},
			{Name: "latency_ms", Type: metric.Number, Doc: "time from sending the request to reading the whole answer"},
		},
	})
	steps.Register(steps.Kind{
		Name:    "shell",
		Summary: "run a command on the host",
		Doc: "Runs command with sh -c in dir, with env added to drill's environment. Fails unless it exits with " +
			"expect_exit (0 by default). Its output goes to the step log; stdout is recorded. The command runs in a " +
			"process group of its own, killed as a whole when it exits, on a timeout and on Ctrl-C (the second one too).",
		Example: "kind: shell\ncommand: docker-compose -p drill-testbed ps\nexpect_exit: 0",
		New:     func() steps.Step { return &Shell{} },
		Timeout: 5 * time.Minute,
		Metrics: []metric.Spec{
			{Name: "exit_code", Type: metric.Number, Doc: "the command's exit status"},
			{Name: "stdout", Type: metric.String, Doc: "standard output, trimmed (first 64 KiB)"},
			{Name: "duration_s", Type: metric.Number, Doc: "how long the command ran"},
		},
	})
}

const maxCaptured = 64 << 10

// HTTP sends one request.
type HTTP struct {
	Method       string            `yaml:"method" enum:"GET|HEAD|POST|PUT|PATCH|DELETE" doc:"request method"`
	URL          string            `yaml:"url" required:"true" doc:"where to send it"`
	Headers      map[string]string `yaml:"headers" doc:"request headers"`
	Body         any               `yaml:"body" doc:"request body: text as is, a mapping or list as JSON"`
	ExpectStatus []int             `yaml:"expect_status" doc:"accepted statuses (default: any 2xx)"`
	Capture      map[string]string `yaml:"capture" doc:"metric name to JSON path in the answer, e.g. leader: members.0.name"`
}

// Validate checks the URL's shape and the capture names.
func (h *HTTP) Validate() error {
	if !dsl.HasRefs(h.URL) && !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
		return steps.FieldErrorf("url", "must start with http:// or https://, found %q", h.URL)
	}
	for name := range h.Capture {
		if !dsl.IsIdent(name) {
			return steps.FieldErrorf("capture", "bad metric name %q: use letters, digits and underscores", name)
		}
	}
	for _, s := range h.ExpectStatus {
		if s < 100 || s > 599 {
			return steps.FieldErrorf("expect_status", "%d is not an HTTP status", s)
		}
	}
	return nil
}

// DeclaredMetrics adds one metric per capture.
func (h *HTTP) DeclaredMetrics() []metric.Spec {
	var out []metric.Spec
	for name, path := range h.Capture {
		out = append(out, metric.Spec{Name: name, Type: metric.Any, Doc: "captured from the JSON path " + path})
	}
	return out
}

// Run sends the request and records the answer.
func (h *HTTP) Run(ctx context.Context, env *steps.Env) error {
	var body io.Reader
	contentType := ""
	switch b := h.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("encoding body as JSON: %w", err)
		}
		body, contentType = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, body)
	if err != nil {
		return fmt.Errorf("bad request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range h.Headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", h.Method, h.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCaptured))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", h.Method, h.URL, err)
	}
	env.Logf("%s %s -> %d in %s", h.Method, h.URL, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	if err := env.RecordAll(map[string]any{
		"status_code": resp.StatusCode,
		"body":        string(data),
		"latency_ms":  float64(time.Since(start).Microseconds()) / 1000,
	}); err != nil {
		return err
	}
	if !h.statusOK(resp.StatusCode) {
		return fmt.Errorf("%s %s answered %d, expected %s: %s", h.Method, h.URL, resp.StatusCode, h.expected(), steps.FirstLine(string(data)))
	}
	var doc any
	if json.Unmarshal(data, &doc) != nil {
		if len(h.Capture) > 0 {
			return fmt.Errorf("%s %s: the answer is not JSON, cannot capture %s", h.Method, h.URL, strings.Join(slices.Sorted(maps.Keys(h.Capture)), ", "))
		}
		return nil
	}
	if err := env.Record("json", doc); err != nil {
		return err
	}
	for name, path := range h.Capture {
		v, err := JSONPath(doc, path)
		if err != nil {
			return fmt.Errorf("capture %s: %w", name, err)
		}
		if err := env.Record(name, v); err != nil {
			return err
		}
	}
	return nil
}

func (h *HTTP) statusOK(code int) bool {
	if len(h.ExpectStatus) == 0 {
		return code >= 200 && code < 300
	}
	for _, s := range h.ExpectStatus {
		if s == code {
			return true
		}
	}
	return false
}

func (h *HTTP) expected() string {
	if len(h.ExpectStatus) == 0 {
		return "2xx"
	}
	return strings.Trim(fmt.Sprint(h.ExpectStatus), "[]")
}

// JSONPath follows a dot-separated path of keys and list indexes in a
// decoded JSON document.
func JSONPath(doc any, path string) (any, error) {
	cur := doc
	for _, key := range strings.Split(path, ".") {
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[key]
			if !ok {
				return nil, fmt.Errorf("no key %q in the answer at %q%s", key, path, dsl.DidYouMean(key, slices.Sorted(maps.Keys(node))))
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				return nil, fmt.Errorf("%q is not an index of a list of %d at %q", key, len(node), path)
			}
			cur = node[i]
		default:
			return nil, fmt.Errorf("cannot look up %q in %v at %q", key, cur, path)
		}
	}
	if n, ok := cur.(float64); ok {
		return n, nil
	}
	return cur, nil
}

// Shell runs a host command.
type Shell struct {
	Command    string            `yaml:"command" required:"true" doc:"command line, run with sh -c"`
	Dir        string            `yaml:"dir" doc:"working directory (default: drill's)"`
	Env        map[string]string `yaml:"env" doc:"variables added to the command's environment"`
	ExpectExit int               `yaml:"expect_exit" doc:"exit status that counts as success"`
}

// Validate checks the exit status: a process exits with 0 to 255.
func (s *Shell) Validate() error {
	if s.ExpectExit < 0 || s.ExpectExit > 255 {
		return steps.FieldErrorf("expect_exit", "must be an exit status from 0 to 255, found %d", s.ExpectExit)
	}
	return nil
}

// Run runs the command in its own process group, killed as a whole when ctx
// ends, when the command exits (children it left behind included), and by
// procgroup.KillAll when drill exits at once on a second Ctrl-C.
func (s *Shell) Run(ctx context.Context, env *steps.Env) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", s.Command)
	cmd.Dir = s.Dir
	cmd.Env = os.Environ()
	for k, v := range s.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.WaitDelay = 2 * time.Second
	var stdout bytes.Buffer
	log := env.Log
	if log == nil {
		log = io.Discard
	}
	cmd.Stdout = io.MultiWriter(&limitedBuffer{buf: &stdout}, log)
	cmd.Stderr = log
	start := time.Now()
	err := procgroup.Run(cmd)
	exit := 0
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &exitErr):
		exit = exitErr.ExitCode()
	case err != nil:
		return fmt.Errorf("running %q: %w", s.Command, err)
	}
	if err := env.RecordAll(map[string]any{
		"exit_code":  exit,
		"stdout":     strings.TrimSpace(stdout.String()),
		"duration_s": time.Since(start).Seconds(),
	}); err != nil {
		return err
	}
	if exit != s.ExpectExit {
		return fmt.Errorf("%q exited with %d, expected %d", s.Command, exit, s.ExpectExit)
	}
	return nil
}

// limitedBuffer keeps the first maxCaptured bytes written to it.
type limitedBuffer struct{ buf *bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxCaptured - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Interface guards: what each kind of this family implements.
var (
	_ steps.Step           = (*HTTP)(nil)
	_ steps.Validator      = (*HTTP)(nil)
	_ steps.MetricDeclarer = (*HTTP)(nil)
	_ steps.Step           = (*Shell)(nil)
	_ steps.Validator      = (*Shell)(nil)
)
