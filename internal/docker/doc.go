// Package docker is drill's only door to the Docker Engine API: it finds the containers and
// networks of one docker compose project by their compose labels, changes their state (stop,
// kill, pause, start, network disconnect and connect), and runs commands in their network
// namespace. Every other package sees it through small interfaces.
//
// Containers are always chosen by label, never by a name the caller typed: an operation on a
// container outside the declared project is refused. Undo operations (Start, Unpause, Connect)
// succeed when the container is already in the wanted state, so they can be replayed.
package docker
