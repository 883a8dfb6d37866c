package clusterview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/patroni"
)

// sqlError looks like pgconn.PgError to Short.
type sqlError struct{ msg string }

func (e *sqlError) Error() string    { return e.msg }
func (e *sqlError) SQLState() string { return "57P03" }

func TestShort(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &osSyscallError{syscall.ECONNREFUSED}}
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("pg: status of a: %w", context.DeadlineExceeded), "no answer within 1s"},
		{fmt.Errorf("patroni: GET x: %w", refused), "connection refused"},
		{fmt.Errorf("wrapped: %w", context.Canceled), "cancelled"},
		// pgx joins the errors of its attempts with a newline.
		{errors.Join(errors.New("127.0.0.1:1 (127.0.0.1): tls error: EOF"), fmt.Errorf("failed to receive message: %w", io.ErrUnexpectedEOF)), "connection closed"},
		{errors.Join(errors.New("first\nline"), errors.New("second")), "first line second"},
		{fmt.Errorf("patroni: %w", &patroni.HTTPError{Method: "GET", URL: "u", Status: 503}), "HTTP 503"},
		{fmt.Errorf("pg: %w", &sqlError{"FATAL: the database system is shutting down (SQLSTATE 57P03)"}), "FATAL: the database system is shutting down (SQLSTATE 57P03)"},
		{fmt.Errorf("a: %w", fmt.Errorf("b: %w", errors.New("the cause"))), "the cause"},
		{&net.DNSError{Name: "postgres-master", Err: "no such host"}, "host not found: postgres-master"},
	}
	for _, tt := range tests {
		if got := Short(tt.err, time.Second); got != tt.want {
			t.Errorf("Short(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// osSyscallError unwraps to an errno, as *os.SyscallError does.
type osSyscallError struct{ errno syscall.Errno }

func (e *osSyscallError) Error() string { return "connect: " + e.errno.Error() }
func (e *osSyscallError) Unwrap() error { return e.errno }
