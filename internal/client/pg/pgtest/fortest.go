package pgtest

import "testing"

// Primary starts a throwaway primary named name for one test, with
// FastSettings, and stops it when the test ends. It fails the test (never
// skips it) when PostgreSQL's binaries are missing.
func Primary(t testing.TB, name string) *Server {
	t.Helper()
	c, err := NewCluster()
	if err != nil {
		t.Fatalf("these tests need PostgreSQL 15's server binaries (apt-get install postgresql-15): %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("stopping the test servers: %v", err)
		}
	})
	p, err := c.InitPrimary(t.Context(), name, FastSettings)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Pair starts a primary and a streaming replica of it for one test (the
// replica's application_name is its name), stopped when the test ends.
func Pair(t testing.TB, primary, replica string) (*Server, *Server) {
	t.Helper()
	p := Primary(t, primary)
	r, err := p.Replica(t.Context(), replica, FastSettings)
	if err != nil {
		t.Fatal(err)
	}
	return p, r
}
