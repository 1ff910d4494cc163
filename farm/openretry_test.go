package farm

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
)

// A node that refuses, is unknown or has no socket costs one attempt; only
// a timeout or a reset is tried again.
func TestOpenRetriesOnlyWhatMayPass(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		tries int
	}{
		{"refused", fmt.Errorf("connecting to 10.0.0.1:22: %w", syscall.ECONNREFUSED), 1},
		{"missing socket", fmt.Errorf("opening engine socket /run/podman/podman.sock on n: ssh: rejected: connect failed (open failed)"), 1},
		{"unknown host", fmt.Errorf("%w: host n is not known", errdefs.ErrHostKey), 1},
		{"no login", fmt.Errorf("ssh to root@n: key authentication failed (tried ~/.ssh/id_ed25519 and ssh-agent)"), 1},
		{"reset", fmt.Errorf("ssh handshake with n: %w", syscall.ECONNRESET), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tries := 0
			open := func(context.Context, engine.Link) (engine.Builder, error) {
				tries++
				return nil, tt.err
			}
			// Room for the first retry (after 1 s), not the second.
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_, err := openWithRetry(ctx, config.Connection{Name: "n", URI: "unix:///nonexistent/n.sock"}, open)
			if err == nil || tries != tt.tries {
				t.Errorf("%d attempts (%v), want %d", tries, err, tt.tries)
			}
		})
	}
}
