package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/platform"
)

// contextSession opens the session that carries req's context, and the
// node's credentials auths, to BuildKit, once for all the node's
// platforms; nil, after one warning, when the context must go as a gzip
// tar with each build call instead (an engine without BuildKit, or a
// session that could not be opened).
func (e *Engine) contextSession(ctx context.Context, req engine.NodeBuild, auths map[string]registry.AuthConfig) *contextSession {
	var why error
	if !e.buildKit() {
		why = fmt.Errorf("docker API %s has no BuildKit", e.api.ClientVersion())
	} else {
		s, err := e.openSession(ctx, req, auths)
		if err == nil {
			return s
		}
		why = err
	}
	if req.Log != nil && ctx.Err() == nil {
		req.Log(nil, fmt.Sprintf("warning: %v: sending the whole build context (gzip tar) with each platform's build", why))
	}
	return nil
}

// sentContext is one build call's context: a tar body, or none when the
// session carries it, and what sending it cost.
type sentContext struct {
	conn       engine.Link
	sess       *contextSession
	body       io.ReadCloser // nil with a session
	dockerfile string
	// sent and busy are the connection's bytes sent and the session's
	// sync time when the call started.
	sent, busy int64
	start      time.Time
	// readAt is when the engine read the tar to its end (unix nanoseconds).
	readAt atomic.Int64
}

// sendContext prepares c's context for one build call.
func (e *Engine) sendContext(c buildCall) (*sentContext, error) {
	sc := &sentContext{conn: e.conn, sess: c.sess, sent: e.conn.Sent(), start: time.Now()}
	if c.sess != nil {
		sc.dockerfile, sc.busy = sessionDockerfile, c.sess.sync.busy.Load()
		return sc, nil
	}
	body, dockerfile, err := contextTar(c.req.ContextDir, c.req.Containerfile, c.req.Excludes)
	if err != nil {
		return nil, err
	}
	sc.body, sc.dockerfile = &eofReader{ReadCloser: body, at: &sc.readAt}, dockerfile
	return sc, nil
}

// done closes the tar and reports what went to the node for platform p:
// the bytes written to the engine during the call (the transport counts
// them) and how long sending took.
func (sc *sentContext) done(req engine.NodeBuild, p ocispec.Platform) {
	how, took := "BuildKit session: only what changed", time.Duration(0)
	if sc.sess != nil {
		took = time.Duration(sc.sess.sync.busy.Load() - sc.busy)
	} else {
		sc.body.Close()
		how = "gzip tar"
		if at := sc.readAt.Load(); at != 0 {
			took = time.Unix(0, at).Sub(sc.start)
		}
	}
	if req.Log != nil {
		req.Log(nil, fmt.Sprintf("sent the build context (%s) for %s: %s in %s",
			how, platform.Format(p), units.BytesSize(float64(sc.conn.Sent()-sc.sent)), took.Round(time.Millisecond)))
	}
}

// eofReader notes when it was read to its end.
type eofReader struct {
	io.ReadCloser
	at *atomic.Int64
}

func (r *eofReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		r.at.CompareAndSwap(0, time.Now().UnixNano())
	}
	return n, err
}
