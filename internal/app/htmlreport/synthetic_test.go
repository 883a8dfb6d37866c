package htmlreport

import (
	"fmt"
	"time"

	"github.com/drill-dev/drill/assertions"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/metric"
	"github.com/drill-dev/drill/internal/timeline"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func i64(v int64) *int64 { return &v }

// syntheticRun is a leader kill of length d with a writer at rate writes/s
// through it: the leader is killed at 5 s, a replica is promoted at 14 s,
// writes fail from the kill until 15 s, the old leader comes back at 20 s.
// The writer's buckets, the role samples (every 500 ms), a split-brain
// watch and lag samples are all filled, so that every lane has data; with
// a long d and a high rate it is the size benchmark's 10-minute run.
func syntheticRun(d time.Duration, rate int) *report.Run {
	pos := func(line int) dsl.Pos { return dsl.Pos{File: "scenarios/leader-kill.yaml", Line: line, Col: 5} }
	kill, promoted, back := 5*time.Second, 14*time.Second, 20*time.Second
	s := &report.Scenario{
		Name: "leader kill", File: "scenarios/leader-kill.yaml", Description: "SIGKILL the leader's container",
		Tags: []string{"failover"}, Started: t0, Finished: at(d),
	}
	step := func(name, kind string, from, took time.Duration, st report.Status, msg string) *report.Step {
		return &report.Step{Name: name, Kind: kind, Pos: pos(10), Phase: "steps", Status: st, Started: at(from), Duration: took, Message: msg}
	}
	s.Steps = []*report.Step{
		step("steady state", "patroni.wait_healthy", 0, ms(300), report.Passed, ""),
		step("start writing through PgBouncer", "writer.start", ms(300), ms(20), report.Passed, ""),
		step("kill the leader's container", "compose.kill", kill-ms(40), ms(40), report.Passed, ""),
		step("wait for a new leader", "patroni.wait_leader", kill, promoted-kill, report.Passed, ""),
		step("stop writing and count what survived", "writer.stop", d-10*time.Second, ms(200), report.Passed, ""),
		step("the old leader rejoins <quickly>", "patroni.wait_healthy", d-9*time.Second, 4*time.Second, report.Error, `timed out: member "pg1" lag 2 MB > 1 MB`),
	}
	s.Steps[3].ID = "failover"
	s.Steps[4].ID = "writes"
	s.Checks = []*report.Check{
		{Name: "a new leader within 60 s", Expr: "failover.rto_s < 60", Pos: pos(60), Status: report.Passed, Seen: []assertions.Seen{{Name: "failover.rto_s", Value: 9.0}}},
		{Name: "no lost writes", Expr: "writes.lost_writes == 0", Pos: pos(61), Status: report.Failed, Message: "writes.lost_writes == 0: writes.lost_writes = 3",
			Seen: []assertions.Seen{{Name: "writes.lost_writes", Value: 3.0}}},
	}
	s.Events = []report.Event{
		{At: at(0), Type: "scenario.start", Message: "leader kill"},
		{At: at(kill - ms(30)), Type: "fault", Step: "kill the leader's container", Message: "kill container drill-testbed-pg1-1 (service pg1, member pg1, the leader) with SIGKILL"},
		{At: at(back), Type: "undo", Step: "kill the leader's container", Message: "kill container drill-testbed-pg1-1 (service pg1, member pg1, the leader) with SIGKILL: undone by the step"},
		{At: at(30 * time.Second), Type: "fault", Step: "cut", Message: `partition network "x": [container a (service pg2, member pg2, the leader)] | [container b (service pg1, member pg1), container c (service pg3, member pg3), container etcd (service etcd)] (both ways; host)`},
		{At: at(40 * time.Second), Type: "undo", Step: "cut", Message: `partition network "x": [container a (service pg2, member pg2, the leader)] | [container b (service pg1, member pg1), container c (service pg3, member pg3), container etcd (service etcd)] (both ways; host): undone`},
	}
	s.Metrics = []metric.Sample{
		{Name: "fault_at", Step: "kill", Value: at(kill), At: at(kill)},
		{Name: "leader_seen_at", Step: "failover", Value: at(promoted + ms(120)), At: at(promoted)},
		{Name: "promoted_at", Step: "failover", Value: at(promoted), At: at(promoted)},
		{Name: "rto_s", Step: "failover", Value: 9.12, At: at(promoted)},
		{Name: "leader", Step: "failover", Value: "pg2", At: at(promoted)},
		{Name: "max_ack_gap_s", Step: "writes", Value: 10.05, At: at(d - 10*time.Second)},
		{Name: "ack_gap_ended_at", Step: "writes", Value: at(15*time.Second + ms(40)), At: at(d - 10*time.Second)},
		{Name: "lost_writes", Step: "writes", Value: 3.0, At: at(d - 10*time.Second)},
	}
	s.Environment = &report.Environment{ReadAt: t0, Values: map[string]string{
		"platform": "compose", "host": "ci-runner-7", "patroni": "3.0.2", "postgres": "15.10", "ttl": "10", "loop_wait": "2", "retry_timeout": "5", "synchronous_mode": "off",
	}, Unread: map[string]string{"maximum_lag_on_failover": "not set in GET /config (Patroni's built-in default applies)"}}

	// member roles, sampled every 500 ms
	roles := &timeline.Roles{Source: "GET /cluster", IntervalMS: 500, Start: t0, End: at(d)}
	member := func(name, role, state string, tl int64, lag *int64) timeline.MemberRole {
		return timeline.MemberRole{Name: name, Role: role, State: state, Timeline: &tl, LagBytes: lag}
	}
	var prev timeline.RoleSample
	for t := time.Duration(0); t < d; t += ms(500) {
		roles.Samples++
		smp := timeline.RoleSample{At: at(t + ms(3))}
		switch {
		case t < kill+2*time.Second:
			smp.Members = []timeline.MemberRole{member("pg1", "leader", "running", 1, nil), member("pg2", "replica", "streaming", 1, i64(0)), member("pg3", "replica", "streaming", 1, i64(0))}
		case t < promoted:
			smp.Members = []timeline.MemberRole{member("pg1", "leader", "running", 1, nil), member("pg2", "replica", "running", 1, i64(4096)), member("pg3", "replica", "running", 1, i64(4096))}
		case t < back+3*time.Second:
			smp.Members = []timeline.MemberRole{member("pg2", "leader", "running", 2, nil), member("pg3", "replica", "streaming", 2, i64(0))}
		default:
			lag := int64(0)
			if t < back+8*time.Second {
				lag = 2 << 20
			}
			// Patroni's lag of pg3 changes once per loop_wait (2 s) under load
			pg3 := int64((t/(2*time.Second))%7) * 512
			smp.Members = []timeline.MemberRole{member("pg1", "replica", "streaming", 2, i64(lag)), member("pg2", "leader", "running", 2, nil), member("pg3", "replica", "streaming", 2, i64(pg3))}
		}
		if t >= 12*time.Second && t < 12*time.Second+ms(500) {
			smp = timeline.RoleSample{At: at(t + ms(3)), Error: "patroni: GET /cluster: no member answered"}
			roles.Failed++
		}
		if len(roles.Changes) == 0 || !prev.Equal(smp) {
			roles.Changes = append(roles.Changes, smp)
			prev = smp
		}
	}

	// the writer: rate writes/s, failing from the kill until 15 s, with
	// three indeterminate writes at the kill
	n := int(d / (100 * time.Millisecond))
	w := timeline.Writes{Writer: "writer", Step: "writes", Start: t0, BucketMS: 100,
		Acknowledged: make([]int, n), Failed: make([]int, n), Indeterminate: make([]int, n)}
	per := rate / 10
	for i := range n {
		bt := time.Duration(i) * 100 * time.Millisecond
		switch {
		case bt < kill:
			w.Acknowledged[i] = per
		case bt < kill+ms(100):
			w.Indeterminate[i] = 3
		case bt < 15*time.Second:
			if i%10 == 0 {
				w.Failed[i] = 1
			}
		default:
			w.Acknowledged[i] = per
		}
	}

	watch := timeline.Watch{Watcher: "split_brain", Step: "watch", IntervalMS: 100, States: []timeline.Span{
		{Start: at(0), End: at(kill), State: "primary", Members: []string{"pg1"}},
		{Start: at(kill), End: at(back), State: "unknown", Members: []string{"pg1"}},
		{Start: at(back), End: at(d), State: "read_only", Members: []string{"pg1"}},
		{Start: at(0), End: at(promoted), State: "read_only", Members: []string{"pg2"}},
		{Start: at(promoted), End: at(d), State: "primary", Members: []string{"pg2"}},
	}, Overlaps: []timeline.Span{{Start: at(back), End: at(back + ms(200)), State: "primary", Members: []string{"pg1", "pg2"}}}}

	lag := timeline.LagSeries{Watcher: "lag", Step: "lagstop", On: "pg2", IntervalMS: 250}
	for t := promoted; t < d; t += ms(250) {
		v := int64(0)
		if t > back && t < back+8*time.Second {
			v = int64(t-back) / 1000
		}
		lag.Samples = append(lag.Samples, timeline.LagSample{At: at(t), Bytes: &v})
	}
	s.Timeline = &timeline.Timeline{Roles: roles, Writes: []timeline.Writes{w}, Watches: []timeline.Watch{watch}, Lag: []timeline.LagSeries{lag}}
	return &report.Run{Started: t0, Finished: at(d + time.Second), Scenarios: []*report.Scenario{s}, Drill: fmt.Sprintf("drill (devel) (commit %s)", "0123abc")}
}

// withReader adds to a synthetic run a reader through the replica route
// from 1 s until reader.stop 10 s before the end, 30 reads per 100 ms,
// whose reads fail from just after the kill for 620 ms (4 failed reads per
// bucket): its longest outage, as reader.stop measured it.
func withReader(run *report.Run) *report.Run {
	s := run.Scenarios[0]
	d := s.Finished.Sub(s.Started)
	kill := 5 * time.Second
	start, n := at(time.Second), int((d-11*time.Second)/(100*time.Millisecond))
	rd := timeline.Reads{Reader: "route_reads", Step: "reads", On: "replica_route", Start: start, BucketMS: 100, OK: make([]int, n), Failed: make([]int, n),
		Outage: &timeline.Outage{Start: at(kill + ms(20)), End: at(kill + ms(640))}}
	for i := range n {
		bt := time.Second + time.Duration(i)*100*time.Millisecond
		switch {
		case bt >= kill && bt < kill+ms(600):
			rd.Failed[i] = 4
		case bt == kill+ms(600):
			rd.OK[i], rd.Failed[i] = 20, 1
		default:
			rd.OK[i] = 30
		}
	}
	s.Timeline.Reads = append(s.Timeline.Reads, rd)
	s.Metrics = append(s.Metrics, metric.Sample{Name: "read_outage_s", Step: "reads", Value: 0.62, At: at(d - 10*time.Second)})
	return run
}
