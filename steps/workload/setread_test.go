package workload

import (
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/pg"
)

// TestDescribeFate: the log line of each kind of notable write.
func TestDescribeFate(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	at := func(ms int) *time.Time { v := t0.Add(time.Duration(ms) * time.Millisecond); return &v }
	for _, tc := range []struct {
		f    pg.WriteFate
		want string
	}{
		{pg.WriteFate{Seq: 7, Fate: pg.FateLost, Outcome: pg.Acknowledged, AcknowledgedAt: at(950)},
			"seq 7 lost (acknowledged at 2026-12-03T07:00:00.95Z, no set read saw it)"},
		{pg.WriteFate{Seq: 2, Fate: pg.FateVanished, Outcome: pg.Acknowledged, AcknowledgedAt: at(970), FirstSeenAt: at(1000), LastSeenAt: at(1100)},
			"seq 2 vanished (acknowledged at 2026-12-03T07:00:00.97Z, seen from 2026-12-03T07:00:01Z to 2026-12-03T07:00:01.1Z)"},
		{pg.WriteFate{Seq: 4, Fate: pg.FateGhost, Outcome: pg.Indeterminate, VisibleAt: at(1200), FirstSeenAt: at(1200), LastSeenAt: at(1400)},
			"seq 4 ghost (indeterminate, visible from 2026-12-03T07:00:01.2Z, seen from 2026-12-03T07:00:01.2Z to 2026-12-03T07:00:01.4Z)"},
		{pg.WriteFate{Seq: 9, Fate: pg.FateGhost, Outcome: pg.Failed, VisibleAt: at(1600)},
			"seq 9 ghost (failed, visible from 2026-12-03T07:00:01.6Z, no set read saw it)"},
	} {
		if got := describeFate(tc.f); got != tc.want {
			t.Errorf("describeFate(%+v)\n got %s\nwant %s", tc.f, got, tc.want)
		}
	}
}
