package clusterview

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drill-dev/drill/internal/client/patroni"
)

// Short names the cause of a probe's error in a few words on one line, for
// a status line: "no answer within 1s", "connection refused", "connection
// closed", "HTTP 503", "FATAL: password authentication failed ...".
// timeout is the bound the probe ran under. The full error stays in
// MemberView.Errors and Snapshot.Errors.
func Short(err error, timeout time.Duration) string {
	return strings.Join(strings.Fields(short(err, timeout)), " ")
}

func short(err error, timeout time.Duration) string {
	var (
		httpErr *patroni.HTTPError
		dnsErr  *net.DNSError
		sqlErr  interface{ SQLState() string }
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case timedOut(err):
		return "no answer within " + timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &dnsErr):
		return "host not found: " + dnsErr.Name
	case errors.As(err, &httpErr):
		return "HTTP " + strconv.Itoa(httpErr.Status)
	case errors.As(err, &sqlErr):
		if e, ok := sqlErr.(error); ok {
			return e.Error()
		}
	}
	return innermost(err)
}

// innermost returns the message of the deepest error of a single chain:
// the cause without the layers of context around it.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// timedOut reports whether err is a call that ran out of time.
func timedOut(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
}
