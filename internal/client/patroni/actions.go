package patroni

import (
	"context"
	"errors"
	"net/http"
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

// Restart restarts PostgreSQL on the named member (POST /restart on that
// member). Patroni answers when PostgreSQL is up again or the restart failed.
func (c *Client) Restart(ctx context.Context, member string) (ActionResult, error) {
	base, err := c.memberURL(ctx, member)
	if err != nil {
		return ActionResult{}, err
	}
	return c.post(ctx, []string{base}, "/restart", map[string]any{})
}

// Reinit wipes the named replica's data directory and clones it again from
// the leader (POST /reinitialize on that member). force cancels a restart
// loop Patroni may be in. Patroni answers once the reinit has started.
func (c *Client) Reinit(ctx context.Context, member string, force bool) (ActionResult, error) {
	base, err := c.memberURL(ctx, member)
	if err != nil {
		return ActionResult{}, err
	}
	return c.post(ctx, []string{base}, "/reinitialize", map[string]any{"force": force})
}

func (c *Client) post(ctx context.Context, bases []string, path string, body any) (ActionResult, error) {
	status, msg, err := c.action(ctx, bases, path, body)
	return ActionResult{Status: status, Message: msg}, err
}
