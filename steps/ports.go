package steps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/internal/client/patroni"
	"github.com/drill-dev/drill/internal/client/pg"
	"github.com/drill-dev/drill/internal/fault"
	"github.com/drill-dev/drill/internal/platform"
)

// Patroni is what step kinds ask of Patroni's REST API. *patroni.Client
// implements it; tests may give a fake.
type Patroni interface {
	URLs() []string
	Cluster(ctx context.Context) (patroni.Cluster, error)
	History(ctx context.Context) ([]patroni.HistoryEntry, error)
	Probe(ctx context.Context, memberURL string, check patroni.Check) (int, error)
	Switchover(ctx context.Context, leader, candidate string, scheduledAt *time.Time) (patroni.ActionResult, error)
	Failover(ctx context.Context, candidate string) (patroni.ActionResult, error)
	Restart(ctx context.Context, member string, opts patroni.RestartOptions) (patroni.ActionResult, error)
	Reinit(ctx context.Context, member string, opts patroni.ReinitOptions) (patroni.ActionResult, error)
	Reload(ctx context.Context, member string) (patroni.ActionResult, error)
	MemberURL(ctx context.Context, member string) (string, error)
	Member(ctx context.Context, memberURL string) (patroni.Status, error)
	Config(ctx context.Context) (patroni.DynamicConfig, error)
	PatchConfig(ctx context.Context, patch map[string]any) (patroni.DynamicConfig, error)
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// SQL is what step kinds ask of PostgreSQL. pg.Client implements it.
type SQL interface {
	Exec(ctx context.Context, dsn, sql string, args ...any) (pg.ExecResult, error)
	Query(ctx context.Context, dsn, sql string, args ...any) ([]map[string]any, error)
	Lag(ctx context.Context, leader pg.Node) (pg.LagReport, error)
	CatchUp(ctx context.Context, leader pg.Node, replicas []pg.Node) (pg.CatchUpReport, error)
	Replicated(ctx context.Context, leader pg.Node, replicas []pg.Node, timeout time.Duration) (pg.ReplicatedReport, error)
	InsertLoop(ctx context.Context, cfg pg.InsertConfig) (pg.InsertReport, error)
	StartWriter(ctx context.Context, cfg pg.WriterConfig) (*pg.Writer, error)
	StartReader(ctx context.Context, cfg pg.ReaderConfig) (*pg.Reader, error)
	StartSplitBrainWatcher(ctx context.Context, cfg pg.WatchConfig) (*pg.SplitBrainWatcher, error)
}

var (
	_ Patroni = (*patroni.Client)(nil)
	_ SQL     = pg.Client{}
)

// Ports gives the steps of one scenario run the outside systems they act on,
// each built on first use and shared, so that a scenario of control steps
// never connects to anything. It also gives the fault Log and Replay the
// platforms their undos need. Safe for concurrent use.
type Ports struct {
	// Cluster is the scenario's cluster block.
	Cluster *cluster.Cluster
	Logger  *slog.Logger

	// NewPatroni makes a Patroni client for the given REST URLs (default:
	// patroni.New); tests may set a fake.
	NewPatroni func(urls []string, memberURLs map[string]string, log *slog.Logger) (Patroni, error)
	// SQL talks to PostgreSQL (default: pg.Client).
	SQL SQL

	mu        sync.Mutex
	platforms map[platform.Ref]platform.Platform
	mainRef   *platform.Ref
	patroni   Patroni
	views     []Patroni
	state     map[string]any
}

var _ fault.Connector = (*Ports)(nil)

// NewPorts returns the ports of a scenario run on cluster c (nil: an empty
// block, as `drill cleanup` uses).
func NewPorts(c *cluster.Cluster, log *slog.Logger) *Ports {
	if c == nil {
		c = &cluster.Cluster{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Ports{Cluster: c, Logger: log, SQL: pg.Client{}, NewPatroni: newPatroni}
}

func newPatroni(urls []string, memberURLs map[string]string, log *slog.Logger) (Patroni, error) {
	return patroni.New(urls, patroni.Options{MemberURLs: memberURLs, Logger: log})
}

// Platform returns the platform the cluster block names, connecting on
// first use. A failed connection is not kept: the next call tries again.
func (p *Ports) Platform(ctx context.Context) (platform.Platform, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mainRef != nil {
		return p.platforms[*p.mainRef], nil
	}
	d, err := platform.Lookup(p.Cluster.Platform)
	if err != nil {
		return nil, err
	}
	pl, err := d.Open(ctx, p.Cluster, p.Logger)
	if err != nil {
		return nil, err
	}
	ref := pl.Ref()
	p.keep(ref, pl)
	p.mainRef = &ref
	return pl, nil
}

// OpenForwards makes the cluster block's addresses (Patroni's REST API,
// the members' DSNs, pooled_dsn, replica_dsn) go through port-forwards of
// the platform when the block asks for them (kubernetes.port_forward); it
// does nothing otherwise. The forwards close with the platform. Call it
// before anything reads the block's addresses.
func (p *Ports) OpenForwards(ctx context.Context) error {
	if !p.Cluster.Kubernetes.PortForward {
		return nil
	}
	pl, err := p.Platform(ctx)
	if err != nil {
		return err
	}
	c, err := platform.Forwarded(ctx, pl, p.Cluster)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Cluster = c
	return nil
}

// PlatformAt returns the platform a ledger entry names: the scenario's own
// when it is the same, else a new connection kept for the next undo. It
// implements fault.Connector.
func (p *Ports) PlatformAt(ctx context.Context, ref platform.Ref) (platform.Platform, error) {
	if ref.Driver == "" {
		ref.Driver = platform.Compose
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl, ok := p.platforms[ref]; ok {
		return pl, nil
	}
	d, err := platform.Lookup(ref.Driver)
	if err != nil {
		return nil, err
	}
	pl, err := d.Reopen(ctx, ref, p.Logger)
	if err != nil {
		return nil, err
	}
	p.keep(ref, pl)
	return pl, nil
}

func (p *Ports) keep(ref platform.Ref, pl platform.Platform) {
	if p.platforms == nil {
		p.platforms = map[platform.Ref]platform.Platform{}
	}
	p.platforms[ref] = pl
}

// Patroni returns the client of the cluster block's Patroni REST APIs.
func (p *Ports) Patroni() (Patroni, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.patroni != nil {
		return p.patroni, nil
	}
	urls := p.Cluster.RESTURLs()
	if len(urls) == 0 {
		return nil, fmt.Errorf("no Patroni REST API to ask: set cluster.patroni (e.g. [http://127.0.0.1:8008]) or cluster.members.NAME.api")
	}
	c, err := p.NewPatroni(urls, p.Cluster.MemberAPIs(), p.Logger)
	if err != nil {
		return nil, err
	}
	p.patroni = c
	return c, nil
}

// PatroniViews returns one client per REST URL of the cluster block, to ask
// every member at once.
func (p *Ports) PatroniViews() ([]Patroni, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.views != nil {
		return p.views, nil
	}
	var views []Patroni
	for _, u := range p.Cluster.RESTURLs() {
		c, err := p.NewPatroni([]string{u}, nil, p.Logger)
		if err != nil {
			return nil, err
		}
		views = append(views, c)
	}
	if len(views) == 0 {
		return nil, fmt.Errorf("no Patroni REST API to ask: set cluster.patroni or cluster.members.NAME.api")
	}
	p.views = views
	return views, nil
}

// State returns the value a step family keeps for the whole run under key
// (what network.disconnect saved for network.connect), made on first use.
func State[T any](p *Ports, key string, make func() T) T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.state[key].(T); ok {
		return v
	}
	if p.state == nil {
		p.state = map[string]any{}
	}
	v := make()
	p.state[key] = v
	return v
}

// Close closes every platform connection.
func (p *Ports) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, pl := range p.platforms {
		errs = append(errs, pl.Close())
	}
	p.platforms, p.mainRef = nil, nil
	return errors.Join(errs...)
}
