// Package platform is the seam between what a drill does to a cluster's
// members (stop, kill, pause, cut off the network, run a command, read logs)
// and where they run: docker compose on a Docker engine today; hosts under
// systemd reached over SSH, Docker engines reached over SSH and Kubernetes
// pods next. Step kinds speak only to Platform; each implementation lives in
// a package of its own (platform/compose) and is the only code that talks to
// its outside system. docs/architecture.md maps every operation to each
// platform.
//
// The lifecycle of a platform in a run:
//
//  1. Load: the cluster block names a driver (cluster.platform, "compose" by
//     default). Lookup finds it, and every step kind's Needs are checked
//     against the driver's Caps, so a fault the platform cannot do is an
//     error at load time that names the platform. Nothing is contacted.
//  2. Open: on first use the runner calls Driver.Open with the cluster block.
//  3. Use: steps resolve services to Units and act on them. Every fault is
//     written to the ledger with the platform's Ref before it is applied.
//  4. Undo: the runner, or `drill cleanup` after drill itself was killed,
//     calls Driver.Reopen with the Ref from the ledger alone.
//  5. Close releases the connections.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/drill-dev/drill/cluster"
	"github.com/drill-dev/drill/dsl"
	"github.com/drill-dev/drill/internal/netfault"
	"github.com/drill-dev/drill/internal/signal"
)

// Platform runs a cluster's members and applies faults to them. Every method
// must return when ctx is done. Undo-like operations (Start, Unpause, and the
// heals done through NetExec) succeed when there is nothing to undo.
type Platform interface {
	// Ref names this platform in the ledger, enough for Driver.Reopen.
	Ref() Ref
	// Services lists the services (compose services, hosts' member groups,
	// pod owners) that the platform runs, sorted.
	Services(ctx context.Context) ([]string, error)
	// Units lists the units (containers, units on hosts, pods) of a service,
	// in any state, sorted by number; an unknown service is an error that
	// lists the known ones.
	Units(ctx context.Context, service string) ([]Unit, error)

	// Stop asks the unit to stop and waits up to grace before killing it.
	// The Effect dates the stop signal.
	Stop(ctx context.Context, u Unit, grace time.Duration) (Effect, error)
	// Kill sends sig to the unit's processes; the Effect dates the signal.
	Kill(ctx context.Context, u Unit, sig signal.Signal) (Effect, error)
	// Pause freezes every process of the unit; the Effect dates the freeze.
	// Unpause thaws them.
	Pause(ctx context.Context, u Unit) (Effect, error)
	Unpause(ctx context.Context, u Unit) error
	// Start starts a stopped unit; Restart stops (as Stop) and starts it.
	Start(ctx context.Context, u Unit) error
	Restart(ctx context.Context, u Unit, grace time.Duration) error

	// Exec runs argv in the unit and waits for its end; a non-zero exit is
	// not an error.
	Exec(ctx context.Context, u Unit, argv []string, stdin []byte) (ExecResult, error)
	// ExecAdmin is Exec as root, with the rights the platform's own faults
	// have, to signal and start any process of the unit and change its files:
	// through sudo on hosts when the block says sudo, docker exec as user 0
	// in a container. The Exec capability offers both.
	ExecAdmin(ctx context.Context, u Unit, argv []string, stdin []byte) (ExecResult, error)
	// Logs returns what the unit logged since the given time (zero: all).
	Logs(ctx context.Context, u Unit, since time.Time) ([]byte, error)

	// NetExec runs argv in the network namespace of a unit (named by its
	// Key) with CAP_NET_ADMIN: how netfault installs and removes partitions,
	// delays and losses.
	netfault.NetExecer
	// Attachment is the unit's address on a network ("" names the unit's
	// only network).
	Attachment(ctx context.Context, u Unit, network string) (Attachment, error)
	// Network describes one network of the cluster: its subnets and the
	// addresses the host (and so drill) has on it.
	Network(ctx context.Context, name string) (Network, error)

	// Close releases the platform's connections.
	Close() error
}

// Detacher is a platform that can take a unit off a network and put it back
// with the same addresses and names (docker network disconnect/connect).
type Detacher interface {
	Platform
	// Networks lists the cluster's networks, sorted.
	Networks(ctx context.Context) ([]string, error)
	// Endpoint is what Connect needs to restore u's attachment to network:
	// take it before Disconnect.
	Endpoint(ctx context.Context, u Unit, network string) (Endpoint, error)
	Disconnect(ctx context.Context, u Unit, network string) error
	Connect(ctx context.Context, u Unit, ep Endpoint) error
}

// DeadMan is a platform that can leave the heal of its network faults on the
// target itself, with a deadline, so that a partition which cuts drill off
// still heals when drill cannot reach the target to undo it.
type DeadMan interface {
	// Arm schedules, on u, the removal of every drill network rule after d,
	// replacing an earlier schedule.
	Arm(ctx context.Context, u Unit, d time.Duration) error
	// Disarm cancels the schedule; none is fine.
	Disarm(ctx context.Context, u Unit) error
}

// Forwarder is a platform that carries drill's own connections to the
// cluster (Patroni's REST API, PostgreSQL, PgBouncer) through tunnels it
// opens itself: Kubernetes' port-forwards, for a cluster whose pods drill
// cannot reach directly.
type Forwarder interface {
	// Forward returns a local address (127.0.0.1:PORT) whose connections
	// reach port on what the platform calls host (a pod or a Service),
	// until the platform is closed; scheme is the address's URL scheme
	// (http, postgres), which may choose the kind of tunnel. An unknown host
	// is an error.
	Forward(ctx context.Context, scheme, host string, port int) (string, error)
}

// Forwarded returns c with its addresses through pl's port-forwards when
// the block asks for them (kubernetes.port_forward), else c itself.
func Forwarded(ctx context.Context, pl Platform, c *cluster.Cluster) (*cluster.Cluster, error) {
	if !c.Kubernetes.PortForward {
		return c, nil
	}
	fw, ok := pl.(Forwarder)
	if !ok {
		return nil, fmt.Errorf("platform %s opens no port-forwards", pl.Ref().Driver)
	}
	out, err := c.Readdressed(func(scheme, host string, port int) (string, error) { return fw.Forward(ctx, scheme, host, port) })
	if err != nil {
		return nil, fmt.Errorf("cluster.%w", err)
	}
	return out, nil
}

// Effect is when a fault took effect on a unit, and how the platform knows.
type Effect struct {
	At time.Time
	// Source says where At comes from, for the step log: the platform's own
	// record of the fault ("the engine's kill event") or, when it has none,
	// "the request".
	Source string
}

// Unit is one thing a fault acts on: a container, a member's units on a
// host, a pod.
type Unit struct {
	Service string // the service it belongs to
	Number  int    // its number in a scaled service; 0 when the service has one
	Name    string // what the platform calls it (container name), for messages
	Noun    string // what it is, for messages: "container"
}

// ErrNotFound is matched (errors.Is) by a platform's error for a service,
// unit or network that does not exist: an undo that finds its unit gone
// says so.
var ErrNotFound = errors.New("not found")

// Key names the unit in the ledger and in NetExec: "service" or "service#N".
func (u Unit) Key() string {
	if u.Number == 0 {
		return u.Service
	}
	return fmt.Sprintf("%s#%d", u.Service, u.Number)
}

// ExecResult is the outcome of a command that ran to its end.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Attachment is a unit's place on one network.
type Attachment struct {
	Network string     // the cluster's name for it ("cluster")
	IP      netip.Addr // IPv4 address, invalid when none
}

// Network describes one network of the cluster.
type Network struct {
	Name       string // the cluster's name for it ("cluster")
	EngineName string // the platform's own name for it, when different
	Subnets    []netip.Prefix
	Gateways   []netip.Addr // the host's addresses on the network
}

// Endpoint is what restores a unit's attachment to a network: plain data,
// kept in the ledger.
type Endpoint struct {
	Network string   `json:"network"`
	Aliases []string `json:"aliases,omitempty"`
	IPv4    string   `json:"ipv4,omitempty"`
	IPv6    string   `json:"ipv6,omitempty"`
}

// Ref names a platform in the ledger: its driver and the driver's settings,
// so that `drill cleanup` can reach it without the scenario. The fields of
// the compose driver sit at the top level, as ledgers written before the
// seam have them.
type Ref struct {
	Driver      string `json:"platform,omitempty"` // "" means compose
	Project     string `json:"project,omitempty"`
	HelperImage string `json:"helper_image,omitempty"`
	// DockerHost is the compose driver's engine when it is not the local
	// one (ssh://, tcp://).
	DockerHost string `json:"docker_host,omitempty"`
	// Spec is the driver's own settings as JSON (hosts: the ssh settings
	// without their secrets, and the hosts).
	Spec string `json:"spec,omitempty"`
}

// String names the platform for messages: compose project "x".
func (r Ref) String() string {
	if r.DriverName() == Compose {
		return fmt.Sprintf("compose project %q", r.Project)
	}
	return r.Driver
}

// DriverName is the driver a Ref names, compose when the ledger predates
// the field.
func (r Ref) DriverName() string {
	if r.Driver == "" {
		return Compose
	}
	return r.Driver
}

// Compose is the name of the docker compose driver, the default.
const Compose = "compose"

// Capability is a family of operations a step kind needs from the platform.
type Capability string

// The capabilities a driver may offer.
const (
	Lifecycle Capability = "lifecycle" // Stop, Kill, Start, Restart
	Freeze    Capability = "freeze"    // Pause, Unpause
	Exec      Capability = "exec"      // Exec, ExecAdmin
	Logs      Capability = "logs"      // Logs
	NetRules  Capability = "netrules"  // NetExec, Attachment, Network: partitions, delay, loss
	Detach    Capability = "detach"    // Detacher: off a network and back
)

// Driver makes platforms of one kind.
type Driver struct {
	Name string       // the cluster block's platform: value
	Doc  string       // one line for docs
	Caps []Capability // what its platforms can do
	// Open connects to the platform a cluster block describes.
	Open func(ctx context.Context, c *cluster.Cluster, log *slog.Logger) (Platform, error)
	// Reopen connects to the platform a ledger entry names.
	Reopen func(ctx context.Context, ref Ref, log *slog.Logger) (Platform, error)
	// Check, when set, runs before a scenario's first step with the
	// capabilities its steps need, on the platform Open returned: an error
	// (a permission the platform will refuse) stops the run before any
	// fault.
	Check func(ctx context.Context, p Platform, caps []Capability) error
}

// Can reports whether the driver's platforms offer every capability.
func (d *Driver) Can(caps ...Capability) (missing []Capability) {
	for _, c := range caps {
		found := false
		for _, have := range d.Caps {
			found = found || have == c
		}
		if !found {
			missing = append(missing, c)
		}
	}
	return missing
}

var drivers = map[string]*Driver{}

// Register makes a driver known. It panics on a duplicate or incomplete
// driver: a programming error found at start-up.
func Register(d Driver) {
	if d.Name == "" || d.Open == nil || d.Reopen == nil {
		panic(fmt.Sprintf("platform: driver %q needs a name, Open and Reopen", d.Name))
	}
	if _, dup := drivers[d.Name]; dup {
		panic("platform: driver registered twice: " + d.Name)
	}
	drivers[d.Name] = &d
}

// Lookup returns the driver registered as name ("" is compose), or an error
// that lists the known ones.
func Lookup(name string) (*Driver, error) {
	if name == "" {
		name = Compose
	}
	if d, ok := drivers[name]; ok {
		return d, nil
	}
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown platform %q: use one of %s%s", name, strings.Join(names, ", "), dsl.DidYouMean(name, names))
}

// UnitArgs is one unit in the ledger. The JSON names are those of ledgers
// written before the seam.
type UnitArgs struct {
	Service string `json:"service"`
	Number  int    `json:"number,omitempty"`
	Name    string `json:"name"`
}

// Unit is the unit the ledger names.
func (a UnitArgs) Unit() Unit { return Unit{Service: a.Service, Number: a.Number, Name: a.Name} }

// ArgsOf returns the ledger form of units.
func ArgsOf(units ...Unit) []UnitArgs {
	out := make([]UnitArgs, len(units))
	for i, u := range units {
		out[i] = UnitArgs{Service: u.Service, Number: u.Number, Name: u.Name}
	}
	return out
}
