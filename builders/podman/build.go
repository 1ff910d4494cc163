package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/errorhandling"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	imagetypes "go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/buildcontext"
	"github.com/farmbuild/farm/buildcontext/nodecache"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
)

// Build builds all the request's platforms in one API call, so the context
// is uploaded once; podman builds them one after another and reports which
// platform each step belongs to. The images are found through the API
// (see result.go), never in the build's output, and each is checked to be
// of the platform asked for: podman 4's layer cache can hand back another
// platform's image (FROM scratch), and such a platform is built again
// without the cache rather than silently lost.
func (e *Engine) Build(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	cs := &contextSession{}
	if _, ok := e.conn.(nodecache.Runner); ok && req.Snapshot != nil {
		// Listed while the node is asked what it holds.
		go func() { _, _ = req.Snapshot.Entries(ctx) }()
	}
	call := e.buildOnce(ctx, req, nil, cs)
	calls := []buildCall{call}
	// Each call's list goes once its images are named.
	defer func() {
		for _, c := range calls {
			e.removeList(ctx, c.nonce)
		}
	}()
	var out []engine.PlatformImage
	var errs []error
	for i, p := range req.Platforms {
		id, step, err, c := call.ids[i], call.steps[i], call.err, call
		if err != nil && call.committed[i] && ctx.Err() == nil {
			// buildah lists a call's images only when every platform
			// succeeded; one that the output says was done is built
			// again alone, which the layer cache makes quick. Ownership
			// is judged against what was there before the first call.
			single := req
			single.Platforms = req.Platforms[i : i+1]
			c = e.buildOnce(ctx, single, call.before, cs)
			calls = append(calls, c)
			id, step, err = c.ids[0], c.steps[0], c.err
		}
		if id != "" {
			id, err = e.checkPlatform(ctx, id, p)
		}
		if (id == "" && err == nil) || errors.Is(err, errWrongPlatform) {
			if req.Log != nil {
				req.Log(&p, fmt.Sprintf("podman's layer cache gave no image of %s: building it again without the cache", platform.Format(p)))
			}
			single := req
			single.Platforms, single.NoCache = req.Platforms[i:i+1], true
			c = e.buildOnce(ctx, single, call.before, cs)
			calls = append(calls, c)
			id, step, err = c.ids[0], c.steps[0], c.err
			if id != "" {
				id, err = e.checkPlatform(ctx, id, p)
			}
		}
		if id == "" && err == nil && len(c.stray) > 0 {
			err = fmt.Errorf("%w: got %s", errWrongPlatform, strings.Join(c.stray, ", "))
		}
		if id != "" && err == nil {
			var ref string
			var layers []string
			if ref, layers, err = e.hold(ctx, id, c.nonce, p, c.before); err == nil {
				out = append(out, engine.PlatformImage{Platform: p, ImageID: id, Ref: ref, Intermediate: layers})
				continue
			}
		}
		if err == nil {
			err = errors.New("podman reported no image for this platform")
		}
		errs = append(errs, &errdefs.BuildError{Platform: platform.Format(p), Node: e.conn.Node(), Step: step, Err: err})
	}
	return out, errors.Join(errs...)
}

// buildCall is the outcome of one build API call.
type buildCall struct {
	// nonce names the call's list and marks its containers.
	nonce string
	// before are the IDs of the images the node held before the call.
	before map[string]bool
	// ids are, per platform, the image the call made ("" for none);
	// steps the last step started.
	ids, steps []string
	// stray are the platforms of images the call made that were not asked
	// for.
	stray []string
	// committed says, per platform, whether the output reported its last
	// step done: only a hint, for what to build again after a failure.
	committed []bool
	err       error
}

// buildOnce runs one build call. before, when not nil, stands for the
// images that were there before the build: those the call finds are not
// farm's. The call's context comes from the node's context cache when cs
// allows.
func (e *Engine) buildOnce(ctx context.Context, req engine.NodeBuild, before map[string]bool, cs *contextSession) buildCall {
	n := len(req.Platforms)
	call := buildCall{nonce: newNonce(), ids: make([]string, n), steps: make([]string, n), committed: make([]bool, n), before: before}
	opts, err := buildOptions(req, call.nonce, e.dir)
	if err == nil && call.before == nil {
		call.before, _, err = e.imageIDs(ctx)
	}
	if err != nil {
		call.err = err
		return call
	}
	containersBefore, listErr := e.buildContainers(ctx)
	sent, start := e.conn.Sent(), time.Now()
	placed, err := e.placeContext(ctx, req, call.nonce, cs)
	if err != nil {
		call.err = err
		return call
	}
	if placed != nil {
		defer e.finishContext(ctx, call.nonce)
		if req.Log != nil {
			req.Log(nil, sentIncremental(placed.prepared, len(req.Platforms), e.conn.Sent()-sent, time.Since(start)))
		}
	}
	// The whole context is uploaded before the first output line: report
	// it then.
	reported := placed != nil
	log := req.Log
	tracker := newBuildTracker(req.Platforms, req.BuildArgs, func(p *ocispec.Platform, line string) {
		if !reported && log != nil {
			reported = true
			log(nil, fmt.Sprintf("sent the build context (gzip tar) for %d platform(s): %s in %s",
				len(req.Platforms), byteSize(e.conn.Sent()-sent), time.Since(start).Round(time.Millisecond)))
		}
		if log != nil {
			log(p, line)
		}
	})
	opts.Out = tracker
	// When ctx ends on podman 5, the build's RUN processes are stopped
	// before the stream closes: podman 5 forgets a build container the
	// moment the client goes, while its running step goes on. What the
	// build does after the client left, abandon stops.
	bctx, disconnect := context.WithCancel(context.WithoutCancel(ctx))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			if listErr == nil && e.major >= 5 {
				e.stopRuns(call.nonce, containersBefore)
			}
			disconnect()
		case <-bctx.Done():
		}
	}()
	err = e.callBuild(bctx, req, opts, placed, cs)
	disconnect()
	<-stopped
	call.err = engineReported(err)
	tracker.Flush()
	copy(call.steps, tracker.steps)
	copy(call.committed, tracker.committed)
	if ctx.Err() != nil {
		call.err = ctx.Err()
		if listErr == nil {
			e.abandon(call.nonce, containersBefore)
		}
		return call
	}
	if call.err != nil {
		// A failed call has no list to read; nothing else says which
		// images it made.
		return call
	}
	call.ids, call.stray, call.err = e.builtImages(ctx, call.nonce, req.Platforms, call.before)
	return call
}

// callBuild makes the build API call: from the context placed on the
// node, else with the whole context, which is also what a call the node
// answers it has no /libpod/local/build for falls back to.
func (e *Engine) callBuild(ctx context.Context, req engine.NodeBuild, opts types.BuildOptions, placed *placedContext, cs *contextSession) error {
	if placed == nil {
		_, err := images.Build(e.ctx(ctx), []string{req.Containerfile}, opts)
		return err
	}
	local := opts
	local.ContextDirectory = placed.prepared.Context
	common := *opts.CommonBuildOpts
	common.Secrets = nil // the rewriter sends the node's
	local.CommonBuildOpts = &common
	_, err := images.BuildFromServerContext(context.WithValue(e.ctx(ctx), rewriteKey{}, placed), []string{placed.prepared.Containerfile}, local)
	if err != nil && !placed.remote && noLocalBuild(err) && ctx.Err() == nil {
		e.noLocalBuild.Store(true)
		cs.off = true
		e.warnFullContext(req, cs, err.Error())
		_, err = images.Build(e.ctx(ctx), []string{req.Containerfile}, opts)
	}
	return err
}

// engineReported marks the errors the engine itself sent as
// *farm.EngineError: an error record in the build stream (the bindings
// return it as a plain errors.New of the engine's message) or an HTTP
// error answer. Errors of the connection wrap their cause and stay as
// they are.
func engineReported(err error) error {
	var answer *errorhandling.ErrorModel
	if err == nil || (errors.Unwrap(err) != nil && !errors.As(err, &answer)) || isSentinel(err) {
		return err
	}
	return &errdefs.EngineError{Err: err}
}

// isSentinel reports whether err is one of the bare errors a broken
// stream can surface as.
func isSentinel(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// byteSize renders a byte count in binary units.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// errWrongPlatform means a built image is not of the platform asked for.
var errWrongPlatform = errors.New("wrong platform")

// checkPlatform resolves an image ID and checks its OS and architecture.
func (e *Engine) checkPlatform(ctx context.Context, id string, want ocispec.Platform) (string, error) {
	img, err := images.GetImage(e.ctx(ctx), id, nil)
	if err != nil {
		return "", fmt.Errorf("finding built image %s: %w", id, err)
	}
	got := platform.FromEngine(img.Os, img.Architecture, "")
	if got.OS != want.OS || got.Architecture != want.Architecture {
		return img.ID, fmt.Errorf("%w: got %s/%s", errWrongPlatform, img.Os, img.Architecture)
	}
	return img.ID, nil
}

// buildOptions turns a request into the bindings' options; nonce names
// the call's manifest list and marks its containers; private is a
// directory only this user can write to.
func buildOptions(req engine.NodeBuild, nonce, private string) (types.BuildOptions, error) {
	var opts types.BuildOptions
	opts.ContextDirectory = req.ContextDir
	opts.Excludes = req.Excludes
	if req.Excludes != nil {
		// The bindings copy each --secret into the context directory while
		// they send it; several builds from one context at once (one per
		// node) must not send each other's copies as context files. A
		// build's own copy is sent apart from the context and is kept.
		opts.Excludes = append(slices.Clone(req.Excludes), buildcontext.SecretCopies)
	}
	for _, p := range req.Platforms {
		opts.Platforms = append(opts.Platforms, struct{ OS, Arch, Variant string }{p.OS, p.Architecture, p.Variant})
	}
	opts.Args = req.BuildArgs
	opts.Labels = req.Labels
	opts.Annotations = req.Annotations
	opts.Target = req.Target
	switch req.Network {
	case "", "default", "private":
	case "host":
		opts.NamespaceOptions = define.NamespaceOptions{{Name: "network", Host: true}}
	case "none":
		opts.ConfigureNetwork = define.NetworkDisabled
	default:
		// A network of the node, by name, as podman build --network NAME.
		opts.NamespaceOptions = define.NamespaceOptions{{Name: "network", Path: req.Network}}
		opts.ConfigureNetwork = define.NetworkEnabled
	}
	opts.NoCache = req.NoCache
	// Layers, container removal and the RUN steps' settings; jobs stays 1:
	// the lines of each platform's build must come one after another to
	// be attributed to it.
	if err := runOptions(&opts, req.Instructions, buildMarker(nonce)); err != nil {
		return opts, err
	}
	one := 1
	opts.Jobs = &one
	switch req.Pull {
	case "", "missing":
		opts.PullPolicy = define.PullIfMissing
	case "always", "true":
		opts.PullPolicy = define.PullAlways
	case "never", "false":
		opts.PullPolicy = define.PullNever
	case "newer":
		opts.PullPolicy = define.PullIfNewer
	default:
		return opts, fmt.Errorf("--pull %q: use always, missing, never or newer", req.Pull)
	}
	switch req.Format {
	case "", "oci":
		opts.OutputFormat = define.OCIv1ImageManifest
	case "docker":
		opts.OutputFormat = define.Dockerv2ImageManifest
	default:
		return opts, fmt.Errorf("--format %q: use oci or docker", req.Format)
	}
	opts.Manifest = listName(nonce)
	// An explicit (possibly empty) auth file and no registries.conf (so no
	// credential helpers) keep the bindings from sending every credential
	// the client has: the node gets exactly the auth file's. The (absent)
	// drop-in directory is in a private one: in a shared temporary
	// directory another user could create it first, with helpers of
	// their choosing.
	opts.SystemContext = &imagetypes.SystemContext{AuthFilePath: req.AuthFile,
		SystemRegistriesConfPath: os.DevNull, SystemRegistriesConfDirPath: filepath.Join(private, "no-registries.d")}
	if req.TLSVerify != nil && !*req.TLSVerify {
		opts.SystemContext.DockerInsecureSkipTLSVerify = imagetypes.OptionalBoolTrue
	}
	if req.AuthFile == "" {
		return opts, errors.New("internal: NodeBuild.AuthFile must name a (possibly empty) auth file")
	}
	return opts, nil
}
