package manifest

import (
	"context"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/platform"
)

// LocalEngine is what ToLocal needs from the engine on the client's machine.
type LocalEngine interface {
	// Load loads an image from an OCI archive stream.
	Load(ctx context.Context, r io.Reader) error
	// CreateList creates (or replaces) a manifest list named name holding
	// the images and returns its ID.
	CreateList(ctx context.Context, name string, imageIDs []string) (string, error)
	// Tag adds a name to an image or list.
	Tag(ctx context.Context, id, name string) error
}

// ToLocal streams every image from its node into the local engine and
// creates a manifest list named by the first tag there (tagged with the
// others too), ready for `podman manifest push --all`.
func ToLocal(ctx context.Context, local LocalEngine, images []Image, tags []string) (Result, error) {
	if len(tags) == 0 {
		return Result{}, fmt.Errorf("a local result needs a name: give -t NAME")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, img := range images {
		g.Go(func() error {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(img.Export(gctx, pw)) }()
			err := local.Load(gctx, pr)
			pr.CloseWithError(err)
			if err != nil {
				return fmt.Errorf("bringing %s back from %s: %w", platform.Slug(img.Platform), img.Node, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	ids := make([]string, len(images))
	for i, img := range images {
		ids[i] = strings.TrimPrefix(img.ImageID, "sha256:")
	}
	return createList(ctx, local, ids, tags)
}

// createList creates the manifest list of the images, named by the first
// tag and tagged with the others.
func createList(ctx context.Context, local LocalEngine, ids, tags []string) (Result, error) {
	id, err := local.CreateList(ctx, tags[0], ids)
	if err != nil {
		return Result{}, fmt.Errorf("creating manifest list %s: %w", tags[0], err)
	}
	for _, t := range tags[1:] {
		if err := local.Tag(ctx, id, t); err != nil {
			return Result{}, fmt.Errorf("tagging %s: %w", t, err)
		}
	}
	return Result{Digest: id, References: tags}, nil
}
