package patroni

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
)

// ActionResult is Patroni's answer to an action: the HTTP status (200 done,
// 202 scheduled) and its message, e.g. `Successfully switched over to "b"`.
type ActionResult struct {
	Status  int
	Message string
}

// Scheduled reports whether Patroni accepted the action for later (HTTP 202).
func (r ActionResult) Scheduled() bool { return r.Status == http.StatusAccepted }

// Switchover asks for a switchover away from leader (POST /switchover). An
// empty candidate lets Patroni pick a healthy replica. With scheduledAt
// non-nil it is scheduled for that time. It returns when Patroni answers:
// after the new leader took over (about 2 s) or when the switchover is
// scheduled. A non-2xx answer (412 candidate not healthy, 503 no leader...)
// is an error carrying Patroni's message.
func (c *Client) Switchover(ctx context.Context, leader, candidate string, scheduledAt *time.Time) (ActionResult, error) {
	if leader == "" {
		return ActionResult{}, errors.New("patroni: POST /switchover: the current leader's name is required")
	}
	body := map[string]any{"leader": leader}
	if candidate != "" {
		body["candidate"] = candidate
	}
	if scheduledAt != nil {
		body["scheduled_at"] = scheduledAt.Format(time.RFC3339)
	}
	return c.post(ctx, c.urls, "/switchover", body)
}

// Failover promotes candidate (POST /failover), also when the cluster has no
// healthy leader. It can lose acknowledged writes of an asynchronous cluster.
func (c *Client) Failover(ctx context.Context, candidate string) (ActionResult, error) {
	if candidate == "" {
		return ActionResult{}, errors.New("patroni: POST /failover: a candidate is required")
	}
	return c.post(ctx, c.urls, "/failover", map[string]any{"candidate": candidate})
}

// RestartOptions are the filters and schedule of POST /restart. The zero
// value restarts at once, unconditionally.
type RestartOptions struct {
	// Schedule, when set, makes Patroni restart at that time (HTTP 202).
	Schedule *time.Time
	// RestartPending restarts only when PostgreSQL has a pending restart
	// (a changed setting that needs one). Patroni tests the key's presence,
	// so it is sent only when true.
	RestartPending bool
	// Role restarts only a member of that role, spelt as the member's
	// Patroni knows it: master (Patroni 3.0) or primary (3.1 and later),
	// standby_leader (4.0), replica.
	Role string
	// PostgresVersion restarts only when the running PostgreSQL is older,
	// e.g. "15.4".
	PostgresVersion string
	// Timeout, when positive, bounds the restart (whole seconds): past it
	// Patroni gives up and, on a primary, fails over.
	Timeout time.Duration
}

// body is the JSON of POST /restart: only the keys set.
func (o RestartOptions) body() map[string]any {
	b := map[string]any{}
	if o.Schedule != nil {
		b["schedule"] = o.Schedule.Format(time.RFC3339)
	}
	if o.RestartPending {
		b["restart_pending"] = true
	}
	if o.Role != "" {
		b["role"] = o.Role
	}
	if o.PostgresVersion != "" {
		b["postgres_version"] = o.PostgresVersion
	}
	if o.Timeout > 0 {
		b["timeout"] = int64(o.Timeout / time.Second)
	}
	return b
}

// RestartNotMatched is Patroni's answer (HTTP 503) to a restart whose
// filters (restart_pending, role, postgres_version) the member does not
// meet: nothing was restarted.
const RestartNotMatched = "restart conditions are not satisfied"

// Restart restarts PostgreSQL on the named member (POST /restart on that
// member) with opts. Patroni answers when PostgreSQL is up again or the
// restart failed (200), or when a scheduled restart was accepted (202). A
// restart whose filters do not match is an *HTTPError with status 503 and
// the body RestartNotMatched: see NotMatched.
func (c *Client) Restart(ctx context.Context, member string, opts RestartOptions) (ActionResult, error) {
	base, err := c.memberURL(ctx, member)
	if err != nil {
		return ActionResult{}, err
	}
	return c.post(ctx, []string{base}, "/restart", opts.body())
}

// NotMatched reports whether err is Patroni's refusal of a restart whose
// filters the member does not meet.
func NotMatched(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.Status == http.StatusServiceUnavailable && strings.Contains(he.Body, RestartNotMatched)
}

// ReinitOptions are the options of POST /reinitialize.
type ReinitOptions struct {
	// Force cancels a task Patroni is running (a restart loop) to reinit.
	Force bool
	// FromLeader takes the base backup from the leader even when the member
	// would clone from a replica (clonefrom tags); Patroni 4 and later,
	// earlier versions ignore it.
	FromLeader bool
}

// Reinit wipes the named replica's data directory and clones it again
// (POST /reinitialize on that member). Patroni answers once the reinit has
// started.
func (c *Client) Reinit(ctx context.Context, member string, opts ReinitOptions) (ActionResult, error) {
	base, err := c.memberURL(ctx, member)
	if err != nil {
		return ActionResult{}, err
	}
	body := map[string]any{"force": opts.Force}
	if opts.FromLeader {
		body["from_leader"] = true
	}
	return c.post(ctx, []string{base}, "/reinitialize", body)
}

// Reload asks the named member's Patroni to read its configuration file
// again (POST /reload, as SIGHUP does). Patroni answers 202 "reload
// scheduled" at once and reloads in its next loop.
func (c *Client) Reload(ctx context.Context, member string) (ActionResult, error) {
	base, err := c.memberURL(ctx, member)
	if err != nil {
		return ActionResult{}, err
	}
	return c.post(ctx, []string{base}, "/reload", nil)
}

// MemberURL is the REST base URL drill reaches the named member at: the
// client's member map first, then the api_url GET /cluster reports.
func (c *Client) MemberURL(ctx context.Context, member string) (string, error) {
	return c.memberURL(ctx, member)
}

func (c *Client) post(ctx context.Context, bases []string, path string, body any) (ActionResult, error) {
	status, msg, err := c.action(ctx, bases, path, body)
	return ActionResult{Status: status, Message: msg}, err
}
