package steps

// Infra gives steps the clients of the outside world. The runner fills it
// with real clients, created on first use, so that a scenario of control
// steps never needs Docker, Patroni or PostgreSQL.
type Infra struct {
	Cluster *Cluster
}
