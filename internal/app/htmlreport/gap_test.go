package htmlreport

import (
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/timeline"
)

// TestLongestGap: the window marked on the writer's lane, from the metrics
// when writer.stop recorded them (the gap still open at the stop when
// ack_gap_ended_at is missing), else from the buckets.
func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := func(acks ...int) timeline.Writes {
		return timeline.Writes{Writer: "writer", Step: "writes", Start: t0, BucketMS: 100, Acknowledged: acks}
	}
	metrics := func(ms ...metric.Sample) *report.Scenario { return &report.Scenario{Metrics: ms} }
	for _, tc := range []struct {
		name     string
		w        timeline.Writes
		s        *report.Scenario
		from, to time.Time
		open, ok bool
	}{
		{"closed, from the metrics", w(1, 0, 0, 1), metrics(
			metric.Sample{Step: "writes", Name: "max_ack_gap_s", Value: 0.25},
			metric.Sample{Step: "writes", Name: "ack_gap_ended_at", Value: at(320)}), at(70), at(320), false, true},
		{"open at the stop: ends with the last bucket", w(1, 1, 0, 0, 0), metrics(
			metric.Sample{Step: "writes", Name: "max_ack_gap_s", Value: 0.3}), at(200), at(500), true, true},
		{"another writer's metrics are not this one's", w(1, 0, 0, 1, 1), metrics(
			metric.Sample{Step: "other", Name: "max_ack_gap_s", Value: 9.0}), at(100), at(300), false, true},
		{"buckets: a trailing run longer than any other is open", w(1, 0, 1, 0, 0, 0), metrics(), at(300), at(600), true, true},
		{"buckets: a longer closed run wins over a shorter open one", w(1, 0, 0, 0, 1, 0), metrics(), at(100), at(400), false, true},
		{"buckets: never a gap", w(1, 1, 1), metrics(), time.Time{}, time.Time{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := longestGap(tc.w, tc.s)
			if ok != tc.ok || !g.from.Equal(tc.from) || !g.to.Equal(tc.to) || g.open != tc.open {
				t.Errorf("longestGap = %v..%v open %v ok %v (%s), want %v..%v open %v ok %v",
					g.from.Sub(t0), g.to.Sub(t0), g.open, ok, g.how, tc.from.Sub(t0), tc.to.Sub(t0), tc.open, tc.ok)
			}
		})
	}
}
