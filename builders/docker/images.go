package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/farmbuild/farm/engine"
)

// Push tags the image as ref, pushes it with the credentials of that one
// registry, and removes the tag again (the image keeps its hold tag, so
// it stays). Docker pushes docker media types; farm's index handling
// converts where the index needs OCI ones.
func (e *Engine) Push(ctx context.Context, imageID, ref string, o engine.PushOptions) error {
	if _, err := e.api.ImageTag(ctx, client.ImageTagOptions{Source: imageID, Target: ref}); err != nil {
		return fmt.Errorf("tagging on %s: %w", e.conn.Node(), err)
	}
	defer func() { _, _ = e.api.ImageRemove(context.WithoutCancel(ctx), ref, client.ImageRemoveOptions{}) }()
	auth, err := json.Marshal(registry.AuthConfig{Username: o.Username, Password: o.Password})
	if err != nil {
		return err
	}
	res, err := e.api.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: base64.URLEncoding.EncodeToString(auth)})
	if err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Node(), err)
	}
	defer res.Close()
	if err := engine.ReadPushStream(res); err != nil {
		return fmt.Errorf("push on %s: %w", e.conn.Node(), err)
	}
	return nil
}

// Export writes the image as a docker archive (docker save); farm turns
// it into OCI where needed.
func (e *Engine) Export(ctx context.Context, imageID string, w io.Writer) error {
	r, err := e.api.ImageSave(ctx, []string{imageID})
	if err != nil {
		return fmt.Errorf("export from %s: %w", e.conn.Node(), err)
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// Remove drops farm's hold tags, never forcing: an image goes with its
// last tag unless a container or a child image still uses it (see
// engine.Builder). Docker cannot untag an image's last name without
// deleting the image, so a name in engine.CachedRepo (an image farm did
// not create) is dropped only while the image has another. Images
// already gone are no error.
func (e *Engine) Remove(ctx context.Context, refs []string) error {
	var errs []error
	for _, id := range refs {
		if strings.HasPrefix(id, engine.CachedRepo+":") {
			// Only a name of someone else's keeps the image; another farm
			// run's may go at the same moment.
			img, err := e.api.ImageInspect(ctx, id)
			if err != nil || !slices.ContainsFunc(img.RepoTags, func(t string) bool {
				return !strings.HasPrefix(t, engine.HoldRepo+":") && !strings.HasPrefix(t, engine.CachedRepo+":")
			}) {
				continue
			}
		}
		if _, err := e.api.ImageRemove(ctx, id, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Existing returns those of the image IDs that are on the node.
func (e *Engine) Existing(ctx context.Context, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		_, err := e.api.ImageInspect(ctx, id)
		switch {
		case err == nil:
			out = append(out, id)
		case !cerrdefs.IsNotFound(err):
			return nil, err
		}
	}
	return out, nil
}

// imageIDs returns the IDs of every image on the node.
func (e *Engine) imageIDs(ctx context.Context) (map[string]bool, error) {
	list, err := e.api.ImageList(ctx, client.ImageListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing images on %s: %w", e.conn.Node(), err)
	}
	ids := map[string]bool{}
	for _, img := range list.Items {
		ids[img.ID] = true
	}
	return ids, nil
}

// renameCached moves farm's hold on an image the cache handed back to a
// name in engine.CachedRepo and returns that name. If it cannot, the hold
// stays (dropping an image's last name would delete it).
func (e *Engine) renameCached(ctx context.Context, id, hold string) (string, error) {
	ctx = context.WithoutCancel(ctx)
	cached := engine.CachedRepo + ":" + strings.TrimPrefix(hold, holdRepo+":")
	if _, err := e.api.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: cached}); err != nil {
		return "", fmt.Errorf("naming the image on %s: %w", e.conn.Node(), err)
	}
	_, _ = e.api.ImageRemove(ctx, hold, client.ImageRemoveOptions{})
	return cached, nil
}

var _ engine.BaseInspector = (*Engine)(nil)

// BaseDigest returns the manifest digest of the node's image for ref, as
// a build's FROM named it: the digest of its repository's pull, else (an
// image only built or loaded there) none.
func (e *Engine) BaseDigest(ctx context.Context, ref string) (string, error) {
	img, err := e.api.ImageInspect(ctx, ref)
	if err != nil {
		return "", err
	}
	for _, rd := range img.RepoDigests {
		if _, d, ok := strings.Cut(rd, "@"); ok {
			return d, nil
		}
	}
	return "", nil
}
