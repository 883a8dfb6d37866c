// Package patroni is drill's only client of Patroni's REST API (validated
// against Patroni 3.0.2). Every call runs under a timeout, because a call to a
// frozen (paused) member hangs forever otherwise, and every error names the
// endpoint that failed and what to check.
//
// Read-only calls (GET /cluster, /config, /history) and PATCH /config go to
// the first member that answers; the client remembers the last member that
// answered and starts there next time, so a dead member costs one timeout,
// not one per call. Actions with side effects (switchover, failover) move on
// to the next member only when the request provably never left drill
// (connection refused); after a timeout their outcome is unknown and the
// error says so.
package patroni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Default timeouts. A healthy Patroni answers a GET in milliseconds; an
// action such as a switchover takes seconds.
const (
	DefaultTimeout       = time.Second
	DefaultActionTimeout = 60 * time.Second
)

// maxBody caps how much of a response drill reads.
const maxBody = 4 << 20

// Options tune a Client. The zero value is usable.
type Options struct {
	// Timeout bounds each GET and PATCH request to one member (default 1 s).
	Timeout time.Duration
	// ActionTimeout bounds POST /switchover, /failover, /restart and
	// /reinitialize (default 60 s): Patroni answers them only when done.
	ActionTimeout time.Duration
	// MemberURLs maps a member name to the REST base URL drill can reach it
	// at. Members not listed are reached at the api_url that GET /cluster
	// reports, which is the member's restapi.connect_address and may not be
	// reachable from where drill runs (e.g. a docker network).
	MemberURLs map[string]string
	// HTTPClient sends the requests (default: a client with its own
	// transport). Timeouts are applied through the request context.
	HTTPClient *http.Client
	// Logger receives a debug line per failed member (default: slog.Default()).
	Logger *slog.Logger
}

// Client talks to the members of one Patroni cluster. It is safe for
// concurrent use.
type Client struct {
	urls          []string
	http          *http.Client
	timeout       time.Duration
	actionTimeout time.Duration
	memberURLs    map[string]string
	log           *slog.Logger

	mu        sync.Mutex
	preferred int // index into urls of the member that answered last
}

// New returns a client for the members at the given REST base URLs
// (e.g. "http://127.0.0.1:8008"). At least one URL is required.
func New(urls []string, opts Options) (*Client, error) {
	if len(urls) == 0 {
		return nil, errors.New("patroni: no member REST URL given")
	}
	c := &Client{
		http:          opts.HTTPClient,
		timeout:       opts.Timeout,
		actionTimeout: opts.ActionTimeout,
		memberURLs:    map[string]string{},
		log:           opts.Logger,
	}
	for _, raw := range urls {
		u, err := normalizeURL(raw)
		if err != nil {
			return nil, err
		}
		c.urls = append(c.urls, u)
	}
	for name, raw := range opts.MemberURLs {
		u, err := normalizeURL(raw)
		if err != nil {
			return nil, fmt.Errorf("patroni: URL of member %q: %w", name, err)
		}
		c.memberURLs[name] = u
	}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:               nil, // members are local or on the cluster network
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.actionTimeout <= 0 {
		c.actionTimeout = DefaultActionTimeout
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// URLs returns the member REST base URLs the client was built with.
func (c *Client) URLs() []string { return append([]string(nil), c.urls...) }

func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("patroni: member URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("patroni: member URL %q: want http://host:port or https://host:port", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.Path = strings.TrimSuffix(u.Path, "/patroni") // api_url form
	return u.String(), nil
}

// HTTPError is a response with an unexpected status code.
type HTTPError struct {
	Method, URL string
	Status      int
	Body        string // trimmed, possibly truncated response body
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// response is a status and a body read in full.
type response struct {
	status int
	body   []byte
}

// do sends one request to one member under its own timeout and reads the
// whole body before the timeout's context is released.
func (c *Client) do(parent context.Context, timeout time.Duration, method, base, path string, body any) (response, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, fmt.Errorf("encode request body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.DebugContext(parent, "patroni "+method+" "+path, "member", base, "duration", time.Since(start), "err", err)
		if perr := parent.Err(); perr != nil {
			return response{}, perr // the caller gave up, not the member
		}
		return response{}, describe(ctx, err, timeout)
	}
	defer resp.Body.Close()
	c.log.DebugContext(parent, "patroni "+method+" "+path, "member", base, "status", resp.StatusCode, "duration", time.Since(start))
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return response{}, fmt.Errorf("read response: %w", describe(ctx, err, timeout))
	}
	return response{status: resp.StatusCode, body: b}, nil
}

// describe turns a transport error into its cause, short enough to list one
// per member in an error message.
func describe(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err) {
		return &timeoutError{after: timeout, err: err}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys interface{ Unwrap() error }
		if errors.As(op.Err, &sys) && sys.Unwrap() != nil { // *os.SyscallError
			return &transportError{msg: sys.Unwrap().Error(), err: err}
		}
		return &transportError{msg: op.Err.Error(), err: err}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &transportError{msg: ue.Err.Error(), err: err}
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type timeoutError struct {
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string { return fmt.Sprintf("no answer within %s", e.after) }
func (e *timeoutError) Unwrap() error { return e.err }

type transportError struct {
	msg string
	err error
}

func (e *transportError) Error() string { return e.msg }
func (e *transportError) Unwrap() error { return e.err }

// notDelivered reports whether err proves the request never reached the
// member (the TCP connection was never established).
func notDelivered(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !isTimeout(err)
}

// attempt is one member's failure, for error messages.
type attempt struct {
	url string
	err error
}

// NoMemberError is returned when every member failed a call.
type NoMemberError struct {
	Method, Path string
	Tried        []string // "URL: cause", in the order tried
	Errs         []error
}

func (e *NoMemberError) Error() string {
	return fmt.Sprintf("patroni: no member answered %s %s (tried %s); check that Patroni runs and its REST API (restapi.listen) is reachable from drill",
		e.Method, e.Path, strings.Join(e.Tried, ", "))
}

// Unwrap returns each member's error, so errors.Is/As see through.
func (e *NoMemberError) Unwrap() []error { return e.Errs }

func noMember(method, path string, tried []attempt) error {
	e := &NoMemberError{Method: method, Path: path}
	for _, a := range tried {
		e.Tried = append(e.Tried, a.url+": "+a.err.Error())
		e.Errs = append(e.Errs, a.err)
	}
	return e
}

// order returns the member URLs starting with the one that answered last.
func (c *Client) order() []int {
	c.mu.Lock()
	start := c.preferred
	c.mu.Unlock()
	idx := make([]int, len(c.urls))
	for i := range idx {
		idx[i] = (start + i) % len(c.urls)
	}
	return idx
}

func (c *Client) prefer(i int) {
	c.mu.Lock()
	c.preferred = i
	c.mu.Unlock()
}

// anyMember runs a request against members in turn until one returns a 2xx
// response that decodes into out (when out is non-nil). A 4xx answer is the
// caller's mistake, not the member's, and is returned at once.
func (c *Client) anyMember(ctx context.Context, method, path string, body, out any) error {
	var tried []attempt
	for _, i := range c.order() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("patroni: %s %s: %w", method, path, err)
		}
		base := c.urls[i]
		resp, err := c.do(ctx, c.timeout, method, base, path, body)
		if err == nil && resp.status/100 != 2 {
			err = &HTTPError{Method: method, URL: base + path, Status: resp.status, Body: trimBody(resp.body)}
			if resp.status/100 == 4 {
				return fmt.Errorf("patroni: %w", err)
			}
		}
		if err == nil && out != nil {
			if derr := json.Unmarshal(resp.body, out); derr != nil {
				err = fmt.Errorf("malformed JSON: %w", derr)
			}
		}
		if err == nil {
			c.prefer(i)
			return nil
		}
		c.log.DebugContext(ctx, "patroni member failed", "method", method, "url", base+path, "err", err)
		tried = append(tried, attempt{url: base, err: err})
	}
	return noMember(method, path, tried)
}

// action sends a request with side effects. It moves on to the next member
// only when the previous one provably never received the request.
func (c *Client) action(ctx context.Context, bases []string, path string, body any) (int, string, error) {
	var tried []attempt
	for _, base := range bases {
		resp, err := c.do(ctx, c.actionTimeout, http.MethodPost, base, path, body)
		if err != nil {
			if notDelivered(err) {
				tried = append(tried, attempt{url: base, err: err})
				continue
			}
			return 0, "", fmt.Errorf("patroni: POST %s on %s: %w; the request may have been received: check GET /cluster for its outcome", path, base, err)
		}
		msg := trimBody(resp.body)
		if resp.status/100 != 2 {
			return resp.status, msg, fmt.Errorf("patroni: %w", &HTTPError{Method: http.MethodPost, URL: base + path, Status: resp.status, Body: msg})
		}
		return resp.status, msg, nil
	}
	return 0, "", noMember(http.MethodPost, path, tried)
}

func trimBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	const max = 300
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
