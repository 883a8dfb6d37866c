package docker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/docker/docker/client"
)

// Sentinel errors, for errors.Is. Every error this package returns is one line that names what
// to check.
var (
	// ErrNotFound: the project, service, container number or network does not exist.
	ErrNotFound = errors.New("not found")
	// ErrOutsideProject: the container exists but is not part of the declared compose project.
	ErrOutsideProject = errors.New("outside the compose project")
	// ErrUnreachable: the Docker Engine cannot be reached.
	ErrUnreachable = errors.New("docker engine unreachable")
	// ErrNoNamespace: the container is not running (stopped, killed, exited), so it has no
	// network namespace to run a command in.
	ErrNoNamespace = errors.New("no network namespace")
)

// sentinelError is a message of its own that matches a sentinel with errors.Is.
type sentinelError struct {
	msg      string
	sentinel error
}

func (e *sentinelError) Error() string        { return e.msg }
func (e *sentinelError) Is(target error) bool { return target == e.sentinel }

// NotFoundError says which project, service, container number or network is missing and which
// ones exist.
type NotFoundError struct {
	Kind    string   // "compose project", "service", "container number" or "network"
	Name    string   // what was asked for
	Project string   // the compose project searched ("" for Kind "compose project")
	Service string   // the service, for Kind "container number"
	Known   []string // what exists instead, sorted
}

func (e *NotFoundError) Error() string {
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	switch e.Kind {
	case "compose project":
		return fmt.Sprintf("no compose project %q on this Docker Engine (projects: %s)", e.Name, known)
	case "service":
		return fmt.Sprintf("no container for service %q in compose project %q (services: %s)", e.Name, e.Project, known)
	case "container number":
		return fmt.Sprintf("no container number %s for service %q in compose project %q (numbers: %s)", e.Name, e.Service, e.Project, known)
	default:
		return fmt.Sprintf("no %s %q in compose project %q (%ss: %s)", e.Kind, e.Name, e.Project, e.Kind, known)
	}
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// OutsideProjectError refuses a container that belongs to another compose project, or to none.
type OutsideProjectError struct {
	Container string // the name or ID the caller gave
	Project   string // the declared project
	Actual    string // the container's project label, "" when it has none
}

func (e *OutsideProjectError) Error() string {
	switch e.Actual {
	case e.Project:
		return fmt.Sprintf("refusing container %q: it is a one-off container of compose project %q (compose run), not one of its services; drill only touches service containers", e.Container, e.Project)
	case "":
		return fmt.Sprintf("refusing container %q: it is not part of compose project %q (it has no compose labels); drill only touches the declared project", e.Container, e.Project)
	}
	return fmt.Sprintf("refusing container %q: it belongs to compose project %q, not %q; drill only touches the declared project", e.Container, e.Actual, e.Project)
}

// Is makes errors.Is(err, ErrOutsideProject) true.
func (e *OutsideProjectError) Is(target error) bool { return target == ErrOutsideProject }

// ExitError is a command that ran but exited non-zero.
type ExitError struct {
	Argv   []string
	Code   int
	Stderr string // trimmed
	Where  string // e.g. `service "db" (exec)` or `service "db" (helper container)`
}

func (e *ExitError) Error() string {
	msg := strings.Join(strings.Fields(e.Stderr), " ")
	if msg == "" {
		msg = "no output on stderr"
	}
	return fmt.Sprintf("%s exited %d in %s: %s", strings.Join(e.Argv, " "), e.Code, e.Where, msg)
}

// engineError turns an error from the Docker client into one line with a hint: unreachable
// engines wrap ErrUnreachable, everything else keeps the engine's own message and type.
func engineError(host string, err error) error {
	if client.IsErrConnectionFailed(err) {
		return fmt.Errorf("%w at %s (is dockerd running, is DOCKER_HOST right, may this user use the socket?): %w", ErrUnreachable, host, err)
	}
	return err
}
