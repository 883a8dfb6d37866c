// Package docker is drill's only door to the Docker Engine API: it finds the containers and
// networks of one docker compose project by their compose labels, changes their state (stop,
// kill, pause, start, network disconnect and connect), and runs commands in their network
// namespace. Every other package sees it through small interfaces (Project implements
// netfault.NetExecer).
//
// Containers are always chosen by label (com.docker.compose.project, .service,
// .container-number), never by a name the caller typed: a container outside the declared
// project is refused (TargetOf), and each operation looks its container up again, so a
// container that compose recreated is found under its new ID.
//
// Undo operations (Start, Unpause, Connect) succeed when the container is already in the
// wanted state, so they can be replayed. When the service has no container any more they fail
// with an error wrapping ErrNotFound; whether that counts as undone is the caller's choice.
//
// Errors are one line that says what to check; engine errors keep their type (errdefs) under
// the wrapping, an unreachable engine wraps ErrUnreachable.
package docker
