package podman

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/blang/semver/v4"
	"github.com/containers/podman/v5/pkg/errorhandling"

	"github.com/farmbuild/farm/buildcontext"
	"github.com/farmbuild/farm/buildcontext/nodecache"
	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/engine"
)

// A build's context reaches the node through the node's context cache
// (package buildcontext/nodecache) when it can: only the files the node
// lacks are sent, the context is assembled on the node, and podman
// builds from that directory. Podman 5.7 and later have an endpoint for
// it (/libpod/local/build); older ones build from a node directory with
// /libpod/build?remote=DIR, which takes the Containerfile from DIR
// (DIR/Containerfile, else DIR/Dockerfile) whatever the request says,
// lets RUN --mount=...,rw write into DIR, and removes DIR's parent when
// the build ends. Where none of that works, the whole context is sent as
// before, with one warning.

// localBuildSince is the first podman with /libpod/local/build.
var localBuildSince = semver.Version{Major: 5, Minor: 7}

// contextSession is one Build's use of the node's context cache: its
// calls warn at most once, and after a failure send the whole context.
type contextSession struct {
	warned, off bool
}

// placedContext is a context assembled on the node for one build call.
type placedContext struct {
	prepared nodecache.Prepared
	// remote is set for podman before 5.7: the call goes to
	// /libpod/build?remote=DIR.
	remote bool
	// secrets are the build's --secret values for the node: each src=
	// names a file put in the context, which podman moves out of it.
	secrets []string
}

// rewriteKey is the context key of a build call's rewrite.
type rewriteKey struct{}

// rewriter lets a build call go where the bindings cannot send it: it
// turns their /libpod/local/build request into /libpod/build?remote=DIR
// for podman before 5.7, and adds the node's --secret values.
type rewriter struct{ base http.RoundTripper }

func (r rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	pc, ok := req.Context().Value(rewriteKey{}).(*placedContext)
	if !ok || !strings.HasSuffix(req.URL.Path, "/libpod/local/build") {
		return r.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	q := req.URL.Query()
	if pc.remote {
		req.URL.Path = strings.TrimSuffix(req.URL.Path, "/local/build") + "/build"
		q.Del("localcontextdir")
		q.Set("remote", pc.prepared.Context)
	}
	if len(pc.secrets) > 0 {
		b, err := json.Marshal(pc.secrets)
		if err != nil {
			return nil, err
		}
		q.Set("secrets", string(b))
	}
	req.URL.RawQuery = q.Encode()
	return r.base.RoundTrip(req)
}

// placeContext assembles the request's context on the node for the call
// nonce names. It returns nil when the whole context is to be sent (and
// says why once per session), and an error only when ctx ended.
func (e *Engine) placeContext(ctx context.Context, req engine.NodeBuild, nonce string, cs *contextSession) (*placedContext, error) {
	runner, ok := e.conn.(nodecache.Runner)
	if req.Snapshot == nil || !ok || cs.off {
		return nil, nil
	}
	pc := &placedContext{remote: e.version.LT(localBuildSince) || e.noLocalBuild.Load()}
	why := ""
	if pc.remote {
		why = e.remoteRefuses(ctx, req)
	}
	var extras map[string][]byte
	if why == "" {
		var err error
		if pc.secrets, extras, err = nodeSecrets(req.Secrets, nonce); err != nil {
			why = err.Error()
		}
	}
	if why == "" {
		var err error
		pc.prepared, err = nodecache.Prepare(ctx, runner, req.Snapshot, nonce, extras)
		if err == nil {
			return pc, nil
		}
		e.finishContext(ctx, nonce)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		why = err.Error()
	}
	cs.off = true
	e.warnFullContext(req, cs, why)
	return nil, nil
}

// warnFullContext says, once per session, that the whole context is sent.
func (e *Engine) warnFullContext(req engine.NodeBuild, cs *contextSession, why string) {
	if cs.warned || req.Log == nil {
		return
	}
	cs.warned = true
	req.Log(nil, fmt.Sprintf("warning: the context cache on %s cannot be used (%s): sending the whole build context", e.conn.Node(), oneLine(why)))
}

// remoteRefuses says why podman before 5.7 cannot build this request
// from a node directory ("" when it can).
func (e *Engine) remoteRefuses(ctx context.Context, req engine.NodeBuild) string {
	entries, err := req.Snapshot.Entries(ctx)
	if err != nil {
		return err.Error()
	}
	rel, in := req.Snapshot.ContainerfileInContext()
	hasContainerfile := false
	for _, en := range entries {
		hasContainerfile = hasContainerfile || (en.Path == "Containerfile" && en.Kind == buildcontext.File)
	}
	version := "podman " + e.version.String()
	if !in || (rel != "Containerfile" && (rel != "Dockerfile" || hasContainerfile)) {
		return version + " takes only the context's own Containerfile from a directory on the node"
	}
	data, err := os.ReadFile(req.Containerfile)
	if err != nil {
		return err.Error()
	}
	if containerfile.WritableMounts(data) {
		return version + " lets a read-write RUN --mount write into the context"
	}
	return ""
}

// finishTimeout bounds the clean-up of a call's directory.
const finishTimeout = 30 * time.Second

// finishContext removes a call's directory from the node and bounds the
// cache, whatever became of the call, in the background: Close waits
// for it.
func (e *Engine) finishContext(ctx context.Context, nonce string) {
	runner, ok := e.conn.(nodecache.Runner)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	e.finishing.Add(1)
	go func() {
		defer e.finishing.Done()
		defer cancel()
		_ = nodecache.Finish(ctx, runner, nonce, nodecache.DefaultLimits)
	}()
}

// nodeSecrets turns the build's --secret values into the node's, as the
// bindings do for the context they send: the file (src=) or the variable
// (env=) is read on the client and becomes a file of the context, which
// podman moves out of it before the build.
func nodeSecrets(specs []string, nonce string) ([]string, map[string][]byte, error) {
	var out []string
	files := map[string][]byte{}
	for i, spec := range specs {
		var opts []string
		for _, tok := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(tok, "=")
			if !ok {
				continue
			}
			switch k {
			case "src", "env":
				name := fmt.Sprintf("farm-secret-%s-%d", nonce, i)
				data := []byte(os.Getenv(v))
				if k == "src" {
					var err error
					if data, err = os.ReadFile(v); err != nil {
						return nil, nil, fmt.Errorf("--secret: %w", err)
					}
				}
				files[name] = data
				opts = append(opts, "src="+name)
			default:
				opts = append(opts, tok)
			}
		}
		out = append(out, strings.Join(opts, ","))
	}
	return out, files, nil
}

// noLocalBuild reports whether err says the node has no
// /libpod/local/build (an older podman reporting a newer version).
func noLocalBuild(err error) bool {
	var answer *errorhandling.ErrorModel
	return errors.As(err, &answer) && answer.ResponseCode == http.StatusNotFound
}

// sentIncremental describes what a call sent of its context.
func sentIncremental(p nodecache.Prepared, platforms int, sent int64, took time.Duration) string {
	return fmt.Sprintf("sent the build context (incremental: %d of %d files, %s of %s) for %d platform(s): %s in %s",
		p.Uploaded, p.Files, byteSize(p.UploadedBytes), byteSize(p.Size), platforms, byteSize(sent), took.Round(time.Millisecond))
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
