// Package hosts is the platform of clusters on machines reached over SSH,
// where Patroni, etcd, PgBouncer and HAProxy run as systemd units (VMs, bare
// metal, Ansible-built hosts). A unit of the platform is one host of the
// cluster block, and a fault acts on the systemd units the block lists for
// it (patroni.service by default). Every command goes through
// internal/client/ssh; nothing else is used on the host but systemctl,
// journalctl, iptables, tc, ip and sh.
package hosts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/client/ssh"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/internal/platform"
	"github.com/drill-dev/drill/internal/platform/remote"
	"github.com/drill-dev/drill/internal/signal"
)

// Name is the driver's name in cluster.platform.
const Name = "hosts"

func init() {
	platform.Register(platform.Driver{
		Name: Name,
		Doc:  "hosts reached over SSH, the cluster's services run as systemd units",
		Caps: []platform.Capability{platform.Lifecycle, platform.Freeze, platform.Exec, platform.Logs, platform.NetRules},
		Open: func(ctx context.Context, c *cluster.Cluster, log *slog.Logger) (platform.Platform, error) {
			return open(c.SSH, c.Hosts, log)
		},
		Reopen: func(ctx context.Context, ref platform.Ref, log *slog.Logger) (platform.Platform, error) {
			var spec ledgerSpec
			if err := json.Unmarshal([]byte(ref.Spec), &spec); err != nil {
				return nil, fmt.Errorf("hosts: bad platform settings in the ledger: %w", err)
			}
			return open(spec.SSH, spec.Hosts, log)
		},
	})
}

// ledgerSpec is what the ledger keeps to reach the hosts again: the block's
// ssh settings without their secrets, and the hosts.
type ledgerSpec struct {
	SSH   cluster.SSH             `json:"ssh"`
	Hosts map[string]cluster.Host `json:"hosts"`
}

// Platform is a set of hosts reached over SSH.
type Platform struct {
	hosts map[string]cluster.Host
	sudo  bool
	pool  *remote.Pool
	spec  string
	log   *slog.Logger

	mu     sync.Mutex
	cgroup map[string]bool // host: has the unified cgroup v2 hierarchy
}

var (
	_ platform.Platform = (*Platform)(nil)
	_ platform.DeadMan  = (*Platform)(nil)
)

func open(s cluster.SSH, hosts map[string]cluster.Host, log *slog.Logger) (*Platform, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("platform hosts needs the cluster block's hosts: each host by name with its address")
	}
	if log == nil {
		log = slog.Default()
	}
	public := s
	public.Passphrase, public.Password = "", ""
	spec, err := json.Marshal(ledgerSpec{SSH: public, Hosts: hosts})
	if err != nil {
		return nil, err
	}
	return &Platform{hosts: hosts, sudo: s.Sudo, pool: remote.NewPool(s, log), spec: string(spec), log: log, cgroup: map[string]bool{}}, nil
}

// Ref names the hosts and how to reach them (no secrets: `drill cleanup`
// logs in with the identity file or the agent).
func (p *Platform) Ref() platform.Ref { return platform.Ref{Driver: Name, Spec: p.spec} }

// Close closes the SSH connections.
func (p *Platform) Close() error { return p.pool.Close() }

// Services lists the hosts.
func (p *Platform) Services(context.Context) ([]string, error) {
	return slices.Sorted(maps.Keys(p.hosts)), nil
}

// Units returns the one unit of a host: the host with its systemd units.
func (p *Platform) Units(_ context.Context, service string) ([]platform.Unit, error) {
	h, ok := p.hosts[service]
	if !ok {
		names := slices.Sorted(maps.Keys(p.hosts))
		return nil, fmt.Errorf("no host %q in the cluster block (hosts: %s)%s: %w", service, strings.Join(names, ", "), dsl.DidYouMean(service, names), platform.ErrNotFound)
	}
	return []platform.Unit{{Service: service, Name: service + ":" + strings.Join(h.UnitsOf(), ","), Noun: "host"}}, nil
}

// run runs argv on u's host, as root when the block says sudo.
func (p *Platform) run(ctx context.Context, host string, argv []string, stdin []byte, root bool) (ssh.Result, error) {
	h, ok := p.hosts[host]
	if !ok {
		return ssh.Result{}, fmt.Errorf("no host %q in the cluster block: %w", host, platform.ErrNotFound)
	}
	c, err := p.pool.Get(ctx, p.pool.Address(h.Address, h.Port), h.User)
	if err != nil {
		return ssh.Result{}, fmt.Errorf("host %s: %w", host, err)
	}
	cmd := ssh.Join(argv)
	if root && p.sudo {
		cmd = "sudo -n " + cmd
	}
	res, err := c.Run(ctx, cmd, stdin)
	if err != nil && ctx.Err() == nil {
		p.pool.Forget(c) // a broken connection: the next call connects again
	}
	return res, err
}

// script runs a shell script as root on host and fails on a non-zero exit,
// with its stderr.
func (p *Platform) script(ctx context.Context, host, what, script string) (string, error) {
	res, err := p.run(ctx, host, []string{"sh", "-c", script}, nil, true)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("%s on host %s: exit %d: %s", what, host, res.ExitCode, strings.TrimSpace(string(res.Stderr)+" "+string(res.Stdout)))
	}
	return string(res.Stdout), nil
}

// units quotes u's systemd units for a script.
func (p *Platform) units(u platform.Unit) string {
	return ssh.Join(p.hosts[u.Service].UnitsOf())
}

// Stop stops the units as docker stop does: SIGTERM (systemctl stop), and
// after grace every process still there is killed.
// The fault is dated by the host's clock when the stop was asked for: the
// units start shutting down at once.
func (p *Platform) Stop(ctx context.Context, u platform.Unit, grace time.Duration) (platform.Effect, error) {
	units := p.units(u)
	kill := "systemctl kill --kill-whom=all --signal=SIGKILL " + units + "; systemctl stop " + units
	script := kill
	if secs := int(grace.Seconds()); secs > 0 {
		script = fmt.Sprintf("timeout %d systemctl stop %s || { %s; }", secs, units, kill)
	}
	return p.timed(ctx, u.Service, "stop", "date +%s.%N; "+script, "the host's clock when systemctl stop was asked")
}

// timed runs a script whose first or last line of output is the host's
// `date +%s.%N`, and returns that time as the fault's effect.
func (p *Platform) timed(ctx context.Context, host, what, script, source string) (platform.Effect, error) {
	out, err := p.script(ctx, host, what, script)
	if err != nil {
		return platform.Effect{}, err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if sec, frac, ok := strings.Cut(strings.TrimSpace(line), "."); ok {
			s, err1 := strconv.ParseInt(sec, 10, 64)
			ns, err2 := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			if err1 == nil && err2 == nil {
				return platform.Effect{At: time.Unix(s, ns), Source: source}, nil
			}
		}
	}
	return platform.Effect{At: time.Now(), Source: "drill's clock after " + what + " (the host printed no time)"}, nil
}

// Kill sends sig to every process of the units. As a killed container stays
// down, the units are masked for the runtime first, so that a unit's
// Restart= does not bring them straight back (Debian's patroni.service
// restarts on failure, and a Patroni restarted at once still holds the
// leader key: no failover would follow). Start unmasks them.
func (p *Platform) Kill(ctx context.Context, u platform.Unit, sig signal.Signal) (platform.Effect, error) {
	if sig == 0 {
		sig = signal.SIGKILL
	}
	units := p.units(u)
	return p.timed(ctx, u.Service, "kill", "systemctl mask --runtime --quiet "+units+" && systemctl kill --kill-whom=all --signal="+sig.String()+" "+units+" && date +%s.%N",
		"the host's clock right after systemctl kill")
}

// Pause freezes the units: the cgroup v2 freezer (systemctl freeze) where
// the host has it, else SIGSTOP of every process of the units.
func (p *Platform) Pause(ctx context.Context, u platform.Unit) (platform.Effect, error) {
	v2, err := p.cgroupV2(ctx, u.Service)
	if err != nil {
		return platform.Effect{}, err
	}
	if v2 {
		return p.timed(ctx, u.Service, "freeze", "systemctl freeze "+p.units(u)+" && date +%s.%N", "the host's clock right after systemctl freeze")
	}
	return p.timed(ctx, u.Service, "freeze (SIGSTOP: the host has no cgroup v2 freezer)", "systemctl kill --kill-whom=all --signal=SIGSTOP "+p.units(u)+" && date +%s.%N",
		"the host's clock right after SIGSTOP of every process of the units (no cgroup v2 freezer)")
}

// Unpause thaws the units (SIGCONT without cgroup v2); units that are not
// frozen are left alone.
func (p *Platform) Unpause(ctx context.Context, u platform.Unit) error {
	v2, err := p.cgroupV2(ctx, u.Service)
	if err != nil {
		return err
	}
	script := "systemctl kill --kill-whom=all --signal=SIGCONT " + p.units(u) + " 2>/dev/null; true"
	if v2 {
		script = "for u in " + p.units(u) + `; do [ "$(systemctl show -p FreezerState --value "$u")" = running ] || systemctl thaw "$u"; done`
	}
	_, err = p.script(ctx, u.Service, "thaw", script)
	return err
}

func (p *Platform) cgroupV2(ctx context.Context, host string) (bool, error) {
	p.mu.Lock()
	v2, known := p.cgroup[host]
	p.mu.Unlock()
	if known {
		return v2, nil
	}
	out, err := p.script(ctx, host, "stat /sys/fs/cgroup", "stat -fc %T /sys/fs/cgroup")
	if err != nil {
		return false, err
	}
	v2 = strings.TrimSpace(out) == "cgroup2fs"
	p.mu.Lock()
	p.cgroup[host] = v2
	p.mu.Unlock()
	return v2, nil
}

// Start unmasks (what Kill masked) and starts the units; running ones are
// left alone.
func (p *Platform) Start(ctx context.Context, u platform.Unit) error {
	units := p.units(u)
	_, err := p.script(ctx, u.Service, "start", "systemctl unmask --runtime --quiet "+units+"; systemctl start "+units)
	return err
}

// Restart stops (as Stop) and starts the units.
func (p *Platform) Restart(ctx context.Context, u platform.Unit, grace time.Duration) error {
	if _, err := p.Stop(ctx, u, grace); err != nil {
		return err
	}
	return p.Start(ctx, u)
}

// Exec runs argv on the host as the login user.
func (p *Platform) Exec(ctx context.Context, u platform.Unit, argv []string, stdin []byte) (platform.ExecResult, error) {
	return p.exec(ctx, u, argv, stdin, false)
}

// ExecAdmin runs argv on the host as root (through sudo -n when the block
// says sudo), as systemctl and iptables run.
func (p *Platform) ExecAdmin(ctx context.Context, u platform.Unit, argv []string, stdin []byte) (platform.ExecResult, error) {
	return p.exec(ctx, u, argv, stdin, true)
}

func (p *Platform) exec(ctx context.Context, u platform.Unit, argv []string, stdin []byte, root bool) (platform.ExecResult, error) {
	res, err := p.run(ctx, u.Service, argv, stdin, root)
	return platform.ExecResult{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, err
}

// Logs is the journal of the units since the given time, with precise
// timestamps.
func (p *Platform) Logs(ctx context.Context, u platform.Unit, since time.Time) ([]byte, error) {
	argv := []string{"journalctl", "--no-pager", "-o", "short-iso-precise"}
	for _, unit := range p.hosts[u.Service].UnitsOf() {
		argv = append(argv, "-u", unit)
	}
	if !since.IsZero() {
		argv = append(argv, "--since", "@"+strconv.FormatFloat(float64(since.UnixMicro())/1e6, 'f', 6, 64))
	}
	res, err := p.run(ctx, u.Service, argv, nil, true)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("journalctl on host %s: exit %d: %s", u.Service, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return res.Stdout, nil
}

// NetExec runs argv as root in the host's network namespace.
func (p *Platform) NetExec(ctx context.Context, key string, argv []string, stdin []byte) ([]byte, error) {
	res, err := p.run(ctx, key, argv, stdin, true)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("%s on host %s: exit %d: %s", argv[0], key, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return res.Stdout, nil
}

// Attachment is the host's IPv4 address on the interface of its default
// route, or on the interface network names.
func (p *Platform) Attachment(ctx context.Context, u platform.Unit, network string) (platform.Attachment, error) {
	addr, _, dev, err := p.address(ctx, u.Service, network)
	return platform.Attachment{Network: dev, IP: addr.Addr()}, err
}

// address returns the host's address with its prefix, the address drill
// connects from as the host sees it, and the interface.
func (p *Platform) address(ctx context.Context, host, dev string) (netip.Prefix, netip.Addr, string, error) {
	script := `dev=` + ssh.Quote(dev) + `
[ -n "$dev" ] || dev=$(ip -4 -o route show default | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n1)
ip -4 -o addr show dev "$dev" scope global | sed -n 's/.* inet \([^ ]*\).*/\1/p' | head -n1
echo "${SSH_CONNECTION%% *}"
echo "$dev"`
	// As the login user: sudo would drop SSH_CONNECTION, and ip needs no root.
	res, err := p.run(ctx, host, []string{"sh", "-c", script}, nil, false)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, "", err
	}
	if res.ExitCode != 0 {
		return netip.Prefix{}, netip.Addr{}, "", fmt.Errorf("find the address on host %s: exit %d: %s", host, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	lines := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n")
	if len(lines) < 3 {
		return netip.Prefix{}, netip.Addr{}, "", fmt.Errorf("host %s: no IPv4 address on the interface of its default route: name the interface in the step's network parameter", host)
	}
	pfx, err := netip.ParsePrefix(strings.TrimSpace(lines[0]))
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, "", fmt.Errorf("host %s: reading its address %q: %w", host, lines[0], err)
	}
	from, _ := netip.ParseAddr(strings.TrimSpace(lines[1]))
	return pfx, from, strings.TrimSpace(lines[2]), nil
}

// Network describes the hosts' network as the first host sees it: its
// subnet, and drill's own address as a gateway, so that a partition that
// allows the host keeps drill's SSH sessions.
func (p *Platform) Network(ctx context.Context, name string) (platform.Network, error) {
	names := slices.Sorted(maps.Keys(p.hosts))
	pfx, from, dev, err := p.address(ctx, names[0], name)
	if err != nil {
		return platform.Network{}, err
	}
	n := platform.Network{Name: dev, Subnets: []netip.Prefix{pfx.Masked()}}
	if from.IsValid() {
		n.Gateways = []netip.Addr{from}
	}
	return n, nil
}

// Arm schedules the heal of every drill network rule on u's host after d,
// as the transient systemd timer drill-heal: the host heals itself even
// when a partition cut drill off. A timer armed before is replaced. The
// timer's accuracy is 100 ms (systemd's default of a minute would let it
// fire up to a minute late).
func (p *Platform) Arm(ctx context.Context, u platform.Unit, d time.Duration) error {
	secs := max(int(d.Seconds()), 1)
	_, err := p.script(ctx, u.Service, "schedule the dead-man undo", fmt.Sprintf(
		"systemctl stop %[1]s.timer %[1]s.service 2>/dev/null; systemctl reset-failed %[1]s.timer %[1]s.service 2>/dev/null; systemd-run --quiet --collect --on-active=%[2]ds --timer-property=AccuracySec=100ms --unit=%[1]s /bin/sh -c %[3]s",
		deadMan, secs, ssh.Quote(netfault.HealScript())))
	return err
}

// Disarm cancels the timer Arm made; one already gone is fine.
func (p *Platform) Disarm(ctx context.Context, u platform.Unit) error {
	_, err := p.script(ctx, u.Service, "cancel the dead-man undo", "systemctl stop "+deadMan+".timer 2>/dev/null; true")
	return err
}

// deadMan names the transient systemd timer of Arm.
const deadMan = "drill-heal"

// State describes a host's units in a word or two, for drill status:
// "running", "stopped (inactive)", "frozen", "failed", or "unreachable: "
// and why.
func (p *Platform) State(ctx context.Context, host string) (string, error) {
	h, ok := p.hosts[host]
	if !ok {
		return "", fmt.Errorf("no host %q in the cluster block: %w", host, platform.ErrNotFound)
	}
	units := ssh.Join(h.UnitsOf())
	// Without the cgroup v2 freezer, Pause stops the processes with SIGSTOP,
	// which systemd does not see: look for a stopped process in the units.
	out, err := p.script(ctx, host, "read the units' state", "systemctl show -p ActiveState -p FreezerState "+units+`
for u in `+units+`; do
  cg=$(systemctl show -p ControlGroup --value "$u")
  for f in /sys/fs/cgroup/systemd$cg/cgroup.procs /sys/fs/cgroup$cg/cgroup.procs; do
    [ -r "$f" ] || continue
    for pid in $(cat "$f"); do
      case "$(ps -o stat= -p "$pid" 2>/dev/null)" in T*) echo; echo STOPPED=1; exit 0;; esac
    done
  done
done`)
	if err != nil {
		return "unreachable: " + err.Error(), nil
	}
	return unitsState(out), nil
}

// Noun is what a unit of the platform is, for drill status.
func (p *Platform) Noun() string { return "host" }

// unitsState folds the output of `systemctl show -p ActiveState -p
// FreezerState UNIT...` (KEY=value lines, a blank line between units) into
// one word: the worst state wins.
func unitsState(out string) string {
	state := "running"
	if strings.Contains(out, "STOPPED=1") {
		state = "frozen (SIGSTOP)"
	}
	for _, unit := range strings.Split(strings.TrimSpace(out), "\n\n") {
		props := map[string]string{}
		for _, line := range strings.Split(unit, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				props[k] = v
			}
		}
		active, freezer := props["ActiveState"], props["FreezerState"]
		if active == "" {
			continue // the STOPPED line
		}
		switch {
		case active == "failed":
			return "failed"
		case active != "active" && active != "reloading":
			state = "stopped (" + active + ")"
		case freezer != "" && freezer != "running" && state == "running":
			state = "frozen"
		}
	}
	return state
}
