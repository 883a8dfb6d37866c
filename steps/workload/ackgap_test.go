package workload

import (
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/pg"
)

// TestLongestAckGap: the longest stretch without an acknowledgement, ended
// by one or still open when the writer stopped, in exact durations.
func TestLongestAckGap(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ack := func(ms int) pg.Attempt { return pg.Attempt{Outcome: pg.Acknowledged, Start: at(ms - 10), End: at(ms)} }
	fail := func(ms int) pg.Attempt { return pg.Attempt{Outcome: pg.Failed, Start: at(ms - 10), End: at(ms)} }
	hung := func(ms int) pg.Attempt {
		return pg.Attempt{Outcome: pg.Indeterminate, Start: at(ms - 2000), End: at(ms)}
	}
	for _, tc := range []struct {
		name     string
		attempts []pg.Attempt
		want     ackGap
		ok       bool
	}{
		{"no attempt", nil, ackGap{}, false},
		{"one acknowledgement", []pg.Attempt{ack(100)}, ackGap{}, false},
		{"nothing acknowledged", []pg.Attempt{fail(100), fail(200)}, ackGap{}, false},
		{"steady", []pg.Attempt{ack(100), ack(120), ack(150)}, ackGap{gap: 30 * time.Millisecond, endedAt: at(150)}, true},
		{"an outage that ended", []pg.Attempt{ack(100), fail(200), hung(2300), ack(2500), ack(2520)}, ackGap{gap: 2400 * time.Millisecond, endedAt: at(2500)}, true},
		{"an outage still open at the stop", []pg.Attempt{ack(100), ack(120), fail(300), hung(5120)}, ackGap{gap: 5 * time.Second, open: true}, true},
		{"an open tail shorter than an ended gap", []pg.Attempt{ack(100), ack(3100), fail(3200)}, ackGap{gap: 3 * time.Second, endedAt: at(3100)}, true},
		{"one acknowledgement, then failures", []pg.Attempt{ack(100), fail(1100)}, ackGap{gap: time.Second, open: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := longestAckGap(tc.attempts)
			if ok != tc.ok || got != tc.want {
				t.Errorf("longestAckGap = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
