package podman

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/images"
	imagetypes "go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/engine"
)

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
	opts = withCompression(opts, o.Compression)
	if err := images.Push(e.ctx(ctx), imageID, ref, opts); err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Node(), err)
	}
	return nil
}

// withCompression asks for the push's compression. Every podman farm
// supports takes compressionFormat; older ones ignore compressionLevel
// (4.6) and forceCompressionFormat (4.7), and without the latter reuse a
// layer the registry holds in any format.
func withCompression(o *images.PushOptions, c engine.Compression) *images.PushOptions {
	if c.Format == "" {
		return o
	}
	o = o.WithCompressionFormat(c.Format).WithForceCompressionFormat(c.Only)
	if c.Level != 0 {
		o = o.WithCompressionLevel(c.Level)
	}
	return o
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
	params, err := withCompression(new(images.PushOptions), o.Compression).ToParams()
	if err != nil {
		return err
	}
	params.Set("destination", ref)
	params.Set("quiet", "true")
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
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("push on %s: %s: %s", e.conn.Node(), resp.Status, strings.TrimSpace(string(body)))
	}
	if err := engine.ReadPushStream(resp.Body); err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Node(), err)
	}
	return nil
}

// Export writes the image as an OCI archive.
func (e *Engine) Export(ctx context.Context, imageID string, w io.Writer) error {
	format := "oci-archive"
	if err := images.Export(e.ctx(ctx), []string{imageID}, w, &images.ExportOptions{Format: &format}); err != nil {
		return fmt.Errorf("export from %s: %w", e.conn.Node(), err)
	}
	return nil
}

// Remove drops farm's names and removes the layer images farm created,
// never forcing (see engine.Builder): a name in engine.CachedRepo is only
// untagged; another name goes with its image unless something else still
// uses the image; a layer image goes only while nothing names it (a later
// build may have found it in the cache and named it). Unnamed parents are
// kept (noprune, which podman 4.3.1 honours too): they may be another
// user's cache. Images already gone are no error.
func (e *Engine) Remove(ctx context.Context, refs []string) error {
	var remove []string
	var real []error
	for _, ref := range refs {
		repo, tag, named := strings.Cut(ref, ":")
		switch {
		case named && repo == engine.CachedRepo:
			if err := images.Untag(e.ctx(ctx), ref, tag, repo, nil); err != nil && !strings.Contains(err.Error(), "image not known") {
				real = append(real, err)
			}
		case !named:
			if img, err := images.GetImage(e.ctx(ctx), ref, nil); err == nil && len(img.RepoTags) == 0 {
				remove = append(remove, ref)
			}
		default:
			remove = append(remove, ref)
		}
	}
	if len(remove) > 0 {
		_, errs := images.Remove(e.ctx(ctx), remove, new(images.RemoveOptions).WithIgnore(true).WithNoPrune(true))
		for _, err := range errs {
			if err != nil && !strings.Contains(err.Error(), "image is in use") && !strings.Contains(err.Error(), "dependent children") {
				real = append(real, err)
			}
		}
	}
	return errors.Join(real...)
}
