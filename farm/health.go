package farm

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/farmbuild/farm/errdefs"
)

// pingBackoff are the pauses before each try of Ping (a variable for the
// tests).
var pingBackoff = []time.Duration{0, time.Second, 2 * time.Second}

// Ping checks that the node's engine answers, trying a few times with
// backoff so that a passing hiccup does not count as a dead node.
func (n *Node) Ping(ctx context.Context) error {
	var err error
	for i, wait := range pingBackoff {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = n.Builder.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// transportError reports whether err looks like a broken connection
// rather than a failed build step.
func transportError(err error) bool {
	var reported *errdefs.EngineError
	if err == nil || errors.As(err, &reported) {
		return false
	}
	// A failed step quotes its command, which may say anything: podman's,
	// docker classic's and BuildKit's step failures are build errors.
	for _, s := range []string{"building at STEP", "returned a non-zero code", "did not complete successfully", "executor failed running"} {
		if strings.Contains(err.Error(), s) {
			return false
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"EOF", "connection reset", "broken pipe", "server probably quit", "use of closed network connection", "ssh: ", "connection refused", "decoding stream"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
