package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	imagetypes "go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/farm"
)

// Build builds all the request's platforms in one API call, so the context
// is uploaded once; podman builds them one after another and reports which
// platform each step belongs to.
func (e *Engine) Build(ctx context.Context, req farm.NodeBuild) ([]farm.PlatformImage, error) {
	opts, err := buildOptions(req)
	if err != nil {
		return nil, err
	}
	tracker := newBuildTracker(req.Platforms, req.Log)
	opts.Out = tracker
	_, buildErr := images.Build(e.ctx(ctx), []string{req.Containerfile}, opts)
	tracker.Flush()
	if ctx.Err() != nil {
		buildErr = ctx.Err()
	}
	var out []farm.PlatformImage
	var errs []error
	for i, p := range req.Platforms {
		id := tracker.ids[i]
		if id != "" {
			img, err := images.GetImage(e.ctx(ctx), id, nil)
			if err == nil {
				out = append(out, farm.PlatformImage{Platform: p, ImageID: img.ID})
				continue
			}
			buildErr = fmt.Errorf("finding built image %s: %w", id, err)
		}
		cause := buildErr
		if cause == nil {
			cause = errors.New("podman reported no image for this platform")
		}
		errs = append(errs, &farm.BuildError{Platform: farm.FormatPlatform(p), Node: e.conn.Name, Step: tracker.steps[i], Err: cause})
	}
	return out, errors.Join(errs...)
}

func buildOptions(req farm.NodeBuild) (types.BuildOptions, error) {
	var opts types.BuildOptions
	opts.ContextDirectory = req.ContextDir
	opts.Excludes = req.Excludes
	for _, p := range req.Platforms {
		opts.Platforms = append(opts.Platforms, struct{ OS, Arch, Variant string }{p.OS, p.Architecture, p.Variant})
	}
	opts.Args = req.BuildArgs
	opts.Labels = req.Labels
	opts.Annotations = req.Annotations
	opts.Target = req.Target
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
	// An explicit (possibly empty) auth file keeps the bindings from
	// sending every credential the client has.
	opts.SystemContext = &imagetypes.SystemContext{AuthFilePath: req.AuthFile}
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
func (e *Engine) Push(ctx context.Context, imageID, ref string, o farm.PushOptions) error {
	opts := new(images.PushOptions).WithQuiet(true)
	if o.Username != "" {
		opts = opts.WithUsername(o.Username).WithPassword(o.Password)
	} else {
		// Without credentials of its own, the bindings would send every
		// credential the client has: give them an empty auth file.
		empty, err := emptyAuthFile()
		if err != nil {
			return err
		}
		defer os.Remove(empty)
		opts = opts.WithAuthfile(empty)
	}
	if o.TLSVerify != nil {
		opts = opts.WithSkipTLSVerify(!*o.TLSVerify)
	}
	switch o.Format {
	case "oci":
		opts = opts.WithFormat("oci")
	case "docker":
		opts = opts.WithFormat("v2s2")
	}
	if err := images.Push(e.ctx(ctx), imageID, ref, opts); err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Name, err)
	}
	return nil
}

// emptyAuthFile writes an auth file with no credentials.
func emptyAuthFile() (string, error) {
	f, err := os.CreateTemp("", "farm-noauth-*.json")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(`{"auths":{}}`)
	return f.Name(), errors.Join(err, f.Close())
}

// Export writes the image as an OCI archive.
func (e *Engine) Export(ctx context.Context, imageID string, w io.Writer) error {
	format := "oci-archive"
	if err := images.Export(e.ctx(ctx), []string{imageID}, w, &images.ExportOptions{Format: &format}); err != nil {
		return fmt.Errorf("export from %s: %w", e.conn.Name, err)
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
		if err != nil && !strings.Contains(err.Error(), "image is in use") {
			real = append(real, err)
		}
	}
	return errors.Join(real...)
}
