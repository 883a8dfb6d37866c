package pg

import (
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file holds what the background Writer and Reader share: how they
// space their attempts and how they connect.

// LoopConfig is what the background Writer and Reader share: how each of
// their connections reconnects and pauses after a failure, how long they
// may run, and where they log. Zero values take the defaults.
type LoopConfig struct {
	// ConnectTimeout bounds each (re)connection (default 1 s).
	ConnectTimeout time.Duration
	// RetryInterval is the pause after a failed attempt (default 100 ms).
	RetryInterval time.Duration
	// MaxDuration stops the loop if Stop is never called (default 1 h).
	MaxDuration time.Duration
	// Logger receives outage start/end lines (default slog.Default()).
	Logger *slog.Logger
}

func (c *LoopConfig) defaults() {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = 100 * time.Millisecond
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// pacer spaces attempts at a rate, for one goroutine or shared by several.
// After falling behind (an outage, a slow attempt) it resumes at its rate,
// without a burst to catch up. Safe for concurrent use.
type pacer struct {
	mu     sync.Mutex
	period time.Duration // 0: no pacing
	next   time.Time
}

// newPacer paces rate attempts per second from now; rate <= 0 does not pace.
func newPacer(rate float64) *pacer {
	p := &pacer{next: time.Now()}
	if rate > 0 {
		p.period = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// reserve returns when the next attempt may start and books that slot.
func (p *pacer) reserve() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.next
	if p.period > 0 {
		p.next = p.next.Add(p.period)
		if now := time.Now(); p.next.Before(now.Add(-p.period)) {
			p.next = now // behind after an outage: no catch-up burst
		}
	}
	return t
}

// notBefore pushes the next slot to t at the earliest (a retry interval).
func (p *pacer) notBefore(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.After(p.next) {
		p.next = t
	}
}

// sleepUntil waits until t or until stop is closed; false means stop.
func sleepUntil(t time.Time, stop <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-stop:
		return false
	case <-timer.C:
		return true
	}
}

// poolSafeOptions are the connection options of the background clients:
// pgx.QueryExecModeExec creates no named prepared statements, so any
// PgBouncer pooling mode works.
func poolSafeOptions(connectTimeout time.Duration) ConnOptions {
	mode := pgx.QueryExecModeExec
	return ConnOptions{ConnectTimeout: connectTimeout, ExecMode: &mode}
}
