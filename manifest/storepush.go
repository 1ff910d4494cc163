package manifest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/platform"
)

// PushOptions control RegistryFromStore.
type PushOptions struct {
	// System carries the client's credentials and TLS settings.
	System *types.SystemContext
	// Cache remembers where blobs are, so that a second repository of a
	// registry mounts what the first received; nil for none.
	Cache types.BlobInfoCache
	// Docker makes the index a docker manifest list instead of an OCI index.
	Docker bool
	// Parallel bounds the images pushed at once; zero means 4.
	Parallel int
}

// RegistryFromStore pushes the staged images from the client's blob store
// to the repository of every tag, with the client's own credentials (the
// nodes get none), then their index to the tags. The images go by digest:
// the repositories get no tag but the user's, and none before every image
// and blob of every repository is there and read back. If pushing the
// index to a tag fails, the result lists the tags already moved.
func RegistryFromStore(ctx context.Context, store *BlobServer, staged []Staged, tags []string, opts PushOptions) (Result, error) {
	named, repos, err := parseTags(tags)
	if err != nil {
		return Result{}, err
	}
	if opts.Cache == nil {
		opts.Cache = none.NoCache
	}
	limit := opts.Parallel
	if limit == 0 {
		limit = 4
	}
	var descs []ocispec.Descriptor
	for _, repo := range repos {
		descs = make([]ocispec.Descriptor, len(staged))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(limit)
		for i, s := range staged {
			g.Go(func() error {
				raw, desc, blobs, err := storedImage(store, s, opts.Docker)
				if err != nil {
					return err
				}
				if err := pushStored(gctx, store, repo, raw, desc.Digest, blobs, opts); err != nil {
					return fmt.Errorf("pushing %s (built on %s) to %s: %w", platform.Slug(s.Platform), s.Node, repo.Name(), err)
				}
				descs[i] = desc
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return Result{}, err
		}
		if err := verifyPushed(ctx, repo, descs, opts); err != nil {
			return Result{}, err
		}
	}
	index, err := NewIndex(descs, opts.Docker)
	if err != nil {
		return Result{}, err
	}
	mediaType := ocispec.MediaTypeImageIndex
	if opts.Docker {
		mediaType = MediaTypeDockerList
	}
	res := Result{Digest: descriptorFor(index, mediaType, nil).Digest.String(), Manifests: descs}
	for _, n := range named {
		if err := putManifest(ctx, n, index, opts.System); err != nil {
			return res, fmt.Errorf("pushing index to %s: %w", n, err)
		}
		res.References = append(res.References, n.String())
	}
	return res, nil
}

// parseTags parses the tags and returns their distinct repositories, in
// order.
func parseTags(tags []string) ([]reference.Named, []reference.Named, error) {
	if len(tags) == 0 {
		return nil, nil, fmt.Errorf("pushing needs a tag: give -t registry/repository:tag")
	}
	named := make([]reference.Named, len(tags))
	seen := map[string]bool{}
	var repos []reference.Named
	for i, t := range tags {
		n, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, nil, fmt.Errorf("tag %q: %w", t, err)
		}
		if _, ok := n.(reference.Digested); ok {
			return nil, nil, fmt.Errorf("tag %q has a digest: push to a tag, the index digest is computed", t)
		}
		named[i] = reference.TagNameOnly(n)
		if !seen[named[i].Name()] {
			seen[named[i].Name()] = true
			repos = append(repos, reference.TrimNamed(named[i]))
		}
	}
	return named, repos, nil
}

// pushStored pushes one image's blobs (those the repository lacks, or
// can mount) and then its manifest, by digest.
func pushStored(ctx context.Context, store *BlobServer, repo reference.Named, raw []byte, d digest.Digest, blobs []ocispec.Descriptor, opts PushOptions) error {
	dest, err := destination(ctx, repo, d, opts.System)
	if err != nil {
		return err
	}
	defer dest.Close()
	for i, b := range blobs {
		info := types.BlobInfo{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType}
		ok, _, err := dest.TryReusingBlob(ctx, info, opts.Cache, false)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		f, _, err := store.OpenBlob(b.Digest)
		if err != nil {
			return fmt.Errorf("blob %s is not in farm's store: %w", b.Digest, err)
		}
		_, err = dest.PutBlob(ctx, f, info, opts.Cache, i == 0)
		f.Close()
		if err != nil {
			return fmt.Errorf("blob %s: %w", b.Digest, err)
		}
	}
	if err := dest.PutManifest(ctx, raw, nil); err != nil {
		return err
	}
	return dest.Commit(ctx, nil)
}

// destination opens repo@d for pushing.
func destination(ctx context.Context, repo reference.Named, d digest.Digest, sys *types.SystemContext) (types.ImageDestination, error) {
	byDigest, err := reference.WithDigest(repo, d)
	if err != nil {
		return nil, err
	}
	ir, err := docker.NewReference(byDigest)
	if err != nil {
		return nil, err
	}
	return ir.NewImageDestination(ctx, sys)
}

// verifyPushed reads back, before any tag is pushed, every image's
// manifest by digest (its bytes must hash to it) and checks that every
// blob it lists is in the repository with its size.
func verifyPushed(ctx context.Context, repo reference.Named, descs []ocispec.Descriptor, opts PushOptions) error {
	for _, desc := range descs {
		byDigest, err := reference.WithDigest(repo, desc.Digest)
		if err != nil {
			return err
		}
		ir, err := docker.NewReference(byDigest)
		if err != nil {
			return err
		}
		src, err := ir.NewImageSource(ctx, opts.System)
		if err != nil {
			return fmt.Errorf("reading back %s: %w", byDigest, err)
		}
		raw, _, err := src.GetManifest(ctx, nil)
		src.Close()
		if err != nil {
			return fmt.Errorf("reading back %s: %w", byDigest, err)
		}
		if digest.FromBytes(raw) != desc.Digest {
			return fmt.Errorf("the registry holds other bytes under %s", byDigest)
		}
		m, err := parseImageManifest(raw)
		if err != nil {
			return fmt.Errorf("reading back %s: %w", byDigest, err)
		}
		dest, err := destination(ctx, repo, desc.Digest, opts.System)
		if err != nil {
			return err
		}
		for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			ok, got, err := dest.TryReusingBlob(ctx, types.BlobInfo{Digest: b.Digest, Size: b.Size}, none.NoCache, false)
			if err == nil && (!ok || (got.Size >= 0 && got.Size != b.Size)) {
				err = fmt.Errorf("blob %s is missing or has another size", b.Digest)
			}
			if err != nil {
				dest.Close()
				return fmt.Errorf("reading back %s: %w", byDigest, err)
			}
		}
		dest.Close()
	}
	return nil
}

// parseImageManifest reads an image manifest's config and layers (OCI and
// docker schema 2 name them alike).
func parseImageManifest(raw []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, err
	}
	if m.Config.Digest == "" {
		return m, fmt.Errorf("not an image manifest")
	}
	return m, nil
}
