package docker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/logline"
	"github.com/farmbuild/farm/platform"
)

// Build builds each platform with BuildKit where the engine has it (API
// 1.39 and later), else with the classic builder; one API call per
// platform (docker takes one platform at a time). Each image is checked to
// be of the platform asked for.
func (e *Engine) Build(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	if err := e.refuse(req); err != nil {
		return nil, err
	}
	auths, err := authConfigs(req.AuthFile)
	if err != nil {
		return nil, e.failAll(req, err)
	}
	before, err := e.imageIDs(ctx)
	if err != nil {
		return nil, e.failAll(req, err)
	}
	c := buildCall{req: req, auths: auths, sess: e.contextSession(ctx, req, auths)}
	if c.sess != nil {
		defer c.sess.Close()
	}
	var out []engine.PlatformImage
	var errs []error
	for _, p := range req.Platforms {
		hold := holdTag()
		id, step, err := e.buildOne(ctx, c, p, hold)
		if err == nil {
			id, err = e.checkPlatform(ctx, hold, p)
			if errors.Is(err, errWrongPlatform) && !req.NoCache {
				// The classic builder's cache ignores the platform.
				if req.Log != nil {
					req.Log(&p, "docker's layer cache gave an image of the wrong platform: building "+platform.Format(p)+" again without the cache")
				}
				e.release(ctx, hold, id, before)
				single := c
				single.req.NoCache = true
				hold = holdTag()
				if id, step, err = e.buildOne(ctx, single, p, hold); err == nil {
					id, err = e.checkPlatform(ctx, hold, p)
				}
			}
		}
		if err != nil {
			if errors.Is(err, errWrongPlatform) {
				e.release(ctx, hold, id, before)
			}
			errs = append(errs, &errdefs.BuildError{Platform: platform.Format(p), Node: e.conn.Node(), Step: step, Err: err})
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if before[id] {
			// The cache handed back an image that was there: not farm's.
			if hold, err = e.renameCached(ctx, id, hold); err != nil {
				errs = append(errs, &errdefs.BuildError{Platform: platform.Format(p), Node: e.conn.Node(), Step: step, Err: err})
				continue
			}
		}
		out = append(out, engine.PlatformImage{Platform: p, ImageID: id, Ref: hold})
	}
	return out, errors.Join(errs...)
}

func (e *Engine) failAll(req engine.NodeBuild, err error) error {
	var errs []error
	for _, p := range req.Platforms {
		errs = append(errs, &errdefs.BuildError{Platform: platform.Format(p), Node: e.conn.Node(), Err: err})
	}
	return errors.Join(errs...)
}

// buildCall is what the build calls of one node's build share.
type buildCall struct {
	req   engine.NodeBuild
	auths map[string]registry.AuthConfig
	// sess offers the context to BuildKit; nil: it goes as a tar.
	sess *contextSession
}

// buildOne runs one build, tagging its result hold, and returns the image
// ID and the last step.
func (e *Engine) buildOne(ctx context.Context, c buildCall, p ocispec.Platform, hold string) (string, string, error) {
	req := c.req
	ctxt, err := e.sendContext(c)
	if err != nil {
		return "", "", err
	}
	defer ctxt.done(req, p)
	opts, err := buildOptions(req, p, c.auths, hold, ctxt.dockerfile)
	if err != nil {
		return "", "", err
	}
	read := readBuildStream
	if e.buildKit() {
		// BuildKit ignores X-Registry-Config: it asks the session for a
		// registry's login when the registry wants one (sessionauth.go).
		opts.Version, opts.AuthConfigs = build.BuilderBuildKit, nil
		read = readBuildKitStream
	}
	if c.sess != nil {
		opts.RemoteContext, opts.SessionID = "client-session", c.sess.s.ID()
	}
	res, err := e.api.ImageBuild(ctx, ctxt.body, opts)
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	return read(res.Body, func(line string) {
		if req.Log != nil {
			req.Log(&p, line)
		}
	})
}

// holdRepo is the repository of the tags farm gives the images it builds
// on docker nodes. Docker deletes an image when its last tag goes, so an
// untagged result would vanish with the first push's temporary tag (and
// `docker image prune` would take it too); each result therefore keeps a
// tag of its own, unique to it, until farm prune or --cleanup removes it.
const holdRepo = engine.HoldRepo

// holdTag returns a new, unique hold tag.
func holdTag() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return holdRepo + ":" + hex.EncodeToString(b)
}

// release drops farm's hold tag of an image it will not use; the image
// goes with it if that was its last tag, unless it was there before the
// build (id in before): then the tag stays, as docker cannot drop an
// image's last name without deleting it.
func (e *Engine) release(ctx context.Context, hold, id string, before map[string]bool) {
	if id == "" || !before[id] {
		_, _ = e.api.ImageRemove(context.WithoutCancel(ctx), hold, client.ImageRemoveOptions{})
	}
}

// buildKit reports whether the engine has BuildKit (API 1.39, Docker 18.09).
func (e *Engine) buildKit() bool {
	return versions.GreaterThanOrEqualTo(e.api.ClientVersion(), "1.39")
}

// buildMessage is one message of the classic builder's JSON stream.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux *struct {
		ID string `json:"ID"`
	} `json:"aux"`
}

// readBuildStream forwards the build's output line by line (lines cut at
// logline.MaxLine, "\r" ending a line) and returns the built image ID, the
// last step ("2/3 : RUN make") and the build's error.
func readBuildStream(r io.Reader, log func(string)) (string, string, error) {
	dec := json.NewDecoder(r)
	var id, step string
	lines := logline.NewSplitter(logline.MaxLine, func(line string) {
		if strings.HasPrefix(line, "Step ") {
			step = strings.TrimPrefix(line, "Step ")
		}
		log(line)
	})
	for {
		var m buildMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			lines.Flush()
			return id, step, fmt.Errorf("reading the build stream: %w", err)
		}
		if m.Aux != nil && m.Aux.ID != "" {
			id = m.Aux.ID
		}
		_, _ = lines.WriteString(m.Stream)
		if m.Error != "" {
			lines.Flush()
			return id, step, &errdefs.EngineError{Err: errors.New(m.Error)}
		}
	}
	lines.Flush()
	if id == "" {
		return "", step, errors.New("docker reported no image")
	}
	return id, step, nil
}

// errWrongPlatform means a built image is not of the platform asked for.
var errWrongPlatform = errors.New("wrong platform")

// checkPlatform finds the built image by its hold tag (the engine's
// answer, not the build's output) and checks its OS and architecture.
func (e *Engine) checkPlatform(ctx context.Context, hold string, want ocispec.Platform) (string, error) {
	img, err := e.api.ImageInspect(ctx, hold)
	if err != nil {
		return "", fmt.Errorf("inspecting built image: %w", err)
	}
	// The ID is returned with a wrong platform too: release needs it.
	got := platform.FromEngine(img.Os, img.Architecture, img.Variant)
	if got.OS != want.OS || got.Architecture != want.Architecture {
		return img.ID, fmt.Errorf("%w: docker built a %s/%s image for %s (does the base image exist for that platform on the node?)", errWrongPlatform, img.Os, img.Architecture, platform.Format(want))
	}
	return img.ID, nil
}

// authConfigs reads the credentials farm prepared for this node's build.
func authConfigs(path string) (map[string]registry.AuthConfig, error) {
	out := map[string]registry.AuthConfig{}
	if path == "" {
		return out, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Auths map[string]struct {
			Auth string `json:"auth"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	for reg, a := range f.Auths {
		raw, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil {
			return nil, fmt.Errorf("credentials for %s: %w", reg, err)
		}
		user, pass, _ := strings.Cut(string(raw), ":")
		out[reg] = registry.AuthConfig{Username: user, Password: pass, ServerAddress: reg}
	}
	return out, nil
}
