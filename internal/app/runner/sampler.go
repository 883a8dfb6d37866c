package runner

import (
	"context"
	"time"

	"github.com/drill-dev/drill/internal/app/report"
	"github.com/drill-dev/drill/internal/timeline"
	"github.com/drill-dev/drill/steps"
)

// RoleInterval is how often the role sampler asks Patroni's GET /cluster
// while a scenario runs. One small GET every half second, from its own
// client and goroutine, does not disturb what the steps measure, and it is
// fine enough to place a leader change within the report's timeline (the
// steps measure failover times themselves, at their own resolution).
const RoleInterval = 500 * time.Millisecond

// roleSampler asks GET /cluster every interval until stopped and keeps the
// answers that changed (timeline.Roles).
type roleSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	roles  timeline.Roles
}

// startRoleSampler starts sampling with client; ctx bounds it.
func startRoleSampler(ctx context.Context, client steps.Patroni, every time.Duration) *roleSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &roleSampler{cancel: cancel, done: make(chan struct{}),
		roles: timeline.Roles{Source: "GET /cluster", IntervalMS: every.Milliseconds(), Start: time.Now()}}
	go s.loop(ctx, client, every)
	return s
}

func (s *roleSampler) loop(ctx context.Context, client steps.Patroni, every time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.sample(ctx, client)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *roleSampler) sample(ctx context.Context, client steps.Patroni) {
	cl, err := client.Cluster(ctx)
	if ctx.Err() != nil {
		return // stopped while asking: not a sample
	}
	smp := timeline.RoleSample{At: time.Now()}
	s.roles.Samples++
	s.roles.End = smp.At
	if err != nil {
		s.roles.Failed++
		smp.Error = err.Error()
	}
	for _, m := range cl.Members {
		mr := timeline.MemberRole{Name: m.Name, Role: string(m.Role), State: m.State, Timeline: m.Timeline}
		if m.Lag.Known {
			mr.LagBytes = &m.Lag.Bytes
		}
		smp.Members = append(smp.Members, mr)
	}
	if n := len(s.roles.Changes); n == 0 || !s.roles.Changes[n-1].Equal(smp) {
		s.roles.Changes = append(s.roles.Changes, smp)
	}
}

// stop ends sampling and returns what was sampled.
func (s *roleSampler) stop() timeline.Roles {
	s.cancel()
	<-s.done
	return s.roles
}

// observeCluster starts what the report's timeline and fingerprint need
// from the cluster, beside the steps: the environment read once, and the
// role sampler, each with its own Patroni client so that neither shares a
// connection or a preferred member with what the steps measure. The
// function it returns stops both and stores their results; the runner
// calls it before the checks. Without a Patroni REST API in the cluster
// block there is nothing to sample and the fingerprint says so.
func (r *scenarioRun) observeCluster(ctx context.Context) func() {
	platform := r.l.Cluster.Platform
	if platform == "" {
		platform = "compose"
	}
	var client steps.Patroni
	if urls := r.ports.Cluster.RESTURLs(); len(urls) > 0 && r.ports.NewPatroni != nil {
		c, err := r.ports.NewPatroni(urls, r.ports.Cluster.MemberAPIs(), r.opts.Logger)
		if err == nil {
			client = c
		}
	}
	envDone := make(chan *report.Environment, 1)
	go func() { envDone <- readEnvironment(ctx, client, platform) }()
	var sampler *roleSampler
	if client != nil {
		sampler = startRoleSampler(context.WithoutCancel(ctx), client, RoleInterval)
	}
	return func() {
		if sampler != nil {
			r.timeline.SetRoles(sampler.stop())
		}
		r.res.Environment = <-envDone
	}
}
