package docker

import (
	"fmt"
	"strconv"
	"strings"
)

// Target names one container of a compose project: a service and, for a scaled service, the
// container number compose gave it (com.docker.compose.container-number).
type Target struct {
	Service string
	Number  int // 0: the service's only container; an error when it has several
}

// ParseTarget reads "service" or "service#N" (N >= 1), the form String writes and NetExec takes.
func ParseTarget(s string) (Target, error) {
	svc, num, hasNum := strings.Cut(s, "#")
	if svc == "" {
		return Target{}, fmt.Errorf("empty service name in target %q", s)
	}
	t := Target{Service: svc}
	if hasNum {
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			return Target{}, fmt.Errorf("bad container number in target %q: want service#N with N >= 1", s)
		}
		t.Number = n
	}
	return t, nil
}

// String returns "service" or "service#N".
func (t Target) String() string {
	if t.Number == 0 {
		return t.Service
	}
	return fmt.Sprintf("%s#%d", t.Service, t.Number)
}
