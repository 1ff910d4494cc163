package podman

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/errorhandling"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	imagetypes "go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
)

// Build builds all the request's platforms in one API call, so the context
// is uploaded once; podman builds them one after another and reports which
// platform each step belongs to. Every image is checked to be of the
// platform asked for: podman 4's layer cache can hand back another
// platform's image (FROM scratch), and such a platform is built again
// without the cache rather than silently lost.
func (e *Engine) Build(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	ids, steps, created, buildErr := e.buildOnce(ctx, req)
	var out []engine.PlatformImage
	var errs []error
	for i, p := range req.Platforms {
		id, step, err := ids[i], steps[i], buildErr
		if id != "" {
			id, err = e.checkPlatform(ctx, id, p)
			if errors.Is(err, errWrongPlatform) {
				if req.Log != nil {
					req.Log(&p, fmt.Sprintf("podman's layer cache gave an image of the wrong platform (%v): building %s again without the cache", err, platform.Format(p)))
				}
				single := req
				single.Platforms, single.NoCache = req.Platforms[i:i+1], true
				again, againSteps, againCreated, againErr := e.buildOnce(ctx, single)
				id, step, err = again[0], againSteps[0], againErr
				created[i] = append(created[i], againCreated[0]...)
				if id != "" {
					id, err = e.checkPlatform(ctx, id, p)
				}
			}
		}
		if id != "" && err == nil {
			out = append(out, engine.PlatformImage{Platform: p, ImageID: id, Intermediate: created[i]})
			continue
		}
		if err == nil {
			err = errors.New("podman reported no image for this platform")
		}
		errs = append(errs, &errdefs.BuildError{Platform: platform.Format(p), Node: e.conn.Node(), Step: step, Err: err})
	}
	return out, errors.Join(errs...)
}

// buildOnce runs one build call and returns, per platform, the image ID
// (possibly abbreviated), the last step started and the layer images the
// build created.
func (e *Engine) buildOnce(ctx context.Context, req engine.NodeBuild) ([]string, []string, [][]string, error) {
	opts, err := buildOptions(req)
	if err != nil {
		n := len(req.Platforms)
		return make([]string, n), make([]string, n), make([][]string, n), err
	}
	before, listErr := e.buildContainers(ctx)
	sent, start, reported := e.conn.Sent(), time.Now(), false
	// The context is uploaded before the first output line: report it then.
	log := req.Log
	tracker := newBuildTracker(req.Platforms, func(p *ocispec.Platform, line string) {
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
				e.stopRuns(before)
			}
			disconnect()
		case <-bctx.Done():
		}
	}()
	_, err = images.Build(e.ctx(bctx), []string{req.Containerfile}, opts)
	disconnect()
	<-stopped
	err = engineReported(err)
	tracker.Flush()
	if ctx.Err() != nil {
		err = ctx.Err()
		if listErr == nil {
			e.abandon(before, tracker.created)
		}
	}
	return tracker.ids, tracker.steps, tracker.createdFor, err
}

// secretCopies matches the copies podman's bindings make of --secret
// files in the context directory.
const secretCopies = "podman-build-secret-*"

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

func buildOptions(req engine.NodeBuild) (types.BuildOptions, error) {
	var opts types.BuildOptions
	opts.ContextDirectory = req.ContextDir
	opts.Excludes = req.Excludes
	if req.Excludes != nil {
		// The bindings copy each --secret into the context directory while
		// they send it; several builds from one context at once (one per
		// node) must not send each other's copies as context files. A
		// build's own copy is sent apart from the context and is kept.
		opts.Excludes = append(slices.Clone(req.Excludes), secretCopies)
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
		return opts, fmt.Errorf("--network %q: use host or none", req.Network)
	}
	opts.NoCache = req.NoCache
	opts.Layers = true
	opts.RemoveIntermediateCtrs = true
	opts.ForceRmIntermediateCtrs = true
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
	opts.CommonBuildOpts = &define.CommonBuildOptions{Secrets: req.Secrets}
	// An explicit (possibly empty) auth file and no registries.conf (so no
	// credential helpers) keep the bindings from sending every credential
	// the client has: the node gets exactly the auth file's.
	opts.SystemContext = &imagetypes.SystemContext{AuthFilePath: req.AuthFile,
		SystemRegistriesConfPath: os.DevNull, SystemRegistriesConfDirPath: filepath.Join(os.TempDir(), "farm-no-registries.d")}
	if req.TLSVerify != nil && !*req.TLSVerify {
		opts.SystemContext.DockerInsecureSkipTLSVerify = imagetypes.OptionalBoolTrue
	}
	if req.AuthFile == "" {
		return opts, errors.New("internal: NodeBuild.AuthFile must name a (possibly empty) auth file")
	}
	return opts, nil
}

// Push pushes an image to a registry reference with the credentials of
// that one registry only.
func (e *Engine) Push(ctx context.Context, imageID, ref string, o engine.PushOptions) error {
	if o.Username == "" {
		return e.pushAnonymous(ctx, imageID, ref, o)
	}
	opts := new(images.PushOptions).WithQuiet(true).WithUsername(o.Username).WithPassword(o.Password)
	if o.TLSVerify != nil {
		opts = opts.WithSkipTLSVerify(!*o.TLSVerify)
	}
	if f := pushFormat(o.Format); f != "" {
		opts = opts.WithFormat(f)
	}
	if err := images.Push(e.ctx(ctx), imageID, ref, opts); err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Node(), err)
	}
	return nil
}

func pushFormat(f string) string {
	switch f {
	case "oci":
		return "oci"
	case "docker":
		return "v2s2"
	}
	return ""
}

// pushAnonymous pushes without credentials. The bindings, given no
// username, would gather every credential the client has (helpers
// included); this sends an explicitly empty one instead.
func (e *Engine) pushAnonymous(ctx context.Context, imageID, ref string, o engine.PushOptions) error {
	conn, err := bindings.GetClient(e.values)
	if err != nil {
		return err
	}
	empty, _ := json.Marshal(imagetypes.DockerAuthConfig{})
	header := http.Header{"X-Registry-Auth": []string{base64.URLEncoding.EncodeToString(empty)}}
	params := url.Values{"destination": {ref}, "quiet": {"true"}}
	if o.TLSVerify != nil && !*o.TLSVerify {
		params.Set("tlsVerify", "false")
	}
	if f := pushFormat(o.Format); f != "" {
		params.Set("format", f)
	}
	resp, err := conn.DoRequest(e.ctx(ctx), nil, http.MethodPost, "/images/%s/push", params, header, imageID)
	if err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Node(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Node(), err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("push on %s: %s: %s", e.conn.Node(), resp.Status, strings.TrimSpace(string(body)))
	}
	// Errors can also come inside a successful stream.
	dec := json.NewDecoder(strings.NewReader(string(body)))
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			return nil
		}
		if m.Error != "" {
			return fmt.Errorf("push on %s: %s", e.conn.Node(), m.Error)
		}
	}
}

// Export writes the image as an OCI archive.
func (e *Engine) Export(ctx context.Context, imageID string, w io.Writer) error {
	format := "oci-archive"
	if err := images.Export(e.ctx(ctx), []string{imageID}, w, &images.ExportOptions{Format: &format}); err != nil {
		return fmt.Errorf("export from %s: %w", e.conn.Node(), err)
	}
	return nil
}

// Remove removes images, ignoring those already gone.
func (e *Engine) Remove(ctx context.Context, imageIDs []string) error {
	if len(imageIDs) == 0 {
		return nil
	}
	ignore := true
	_, errs := images.Remove(e.ctx(ctx), imageIDs, &images.RemoveOptions{Ignore: &ignore})
	var real []error
	for _, err := range errs {
		if err != nil && !strings.Contains(err.Error(), "image is in use") && !strings.Contains(err.Error(), "dependent children") {
			real = append(real, err)
		}
	}
	return errors.Join(real...)
}
