package docker_test

import (
	"testing"

	"github.com/drill-dev/drill/internal/client/docker/dockertest"
)

// TestMain removes the test images this package's tests built.
func TestMain(m *testing.M) { dockertest.Main(m) }
