package manifest

import (
	"context"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/platform"
)

// RegistryOptions control ToRegistry.
type RegistryOptions struct {
	// System carries the client's credentials and TLS settings for the
	// index push and the manifest reads.
	System *types.SystemContext
	// StagingTag names the tags nodes push their images to before the
	// index exists; a platform suffix is added. Nodes whose engine cannot
	// push by digest alone need a tag; the index is pushed only after
	// every platform is in the registry.
	StagingTag string
	// Docker makes the index a docker manifest list instead of an OCI index.
	Docker bool
	// Parallel bounds concurrent node pushes; zero means 4.
	Parallel int
}

// ToRegistry has each node push its image straight to the registry of the
// tags, then pushes only the index, to every tag: the client moves only
// manifests, and no tag changes until every image is in the registry. Each
// repository named by the tags gets its own staging pushes.
func ToRegistry(ctx context.Context, images []Image, tags []string, opts RegistryOptions) (Result, error) {
	if len(tags) == 0 {
		return Result{}, fmt.Errorf("pushing needs a tag: give -t registry/repository:tag")
	}
	named := make([]reference.Named, len(tags))
	byRepo := map[string][]int{}
	var repos []string
	for i, t := range tags {
		n, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return Result{}, fmt.Errorf("tag %q: %w", t, err)
		}
		if _, ok := n.(reference.Digested); ok {
			return Result{}, fmt.Errorf("tag %q has a digest: push to a tag, the index digest is computed", t)
		}
		named[i] = reference.TagNameOnly(n)
		repo := named[i].Name()
		if _, ok := byRepo[repo]; !ok {
			repos = append(repos, repo)
		}
		byRepo[repo] = append(byRepo[repo], i)
	}
	var res Result
	for _, repo := range repos {
		descs, err := stageImages(ctx, images, repo, opts)
		if err != nil {
			return Result{}, err
		}
		index, err := NewIndex(descs, opts.Docker)
		if err != nil {
			return Result{}, err
		}
		mediaType := ocispec.MediaTypeImageIndex
		if opts.Docker {
			mediaType = MediaTypeDockerList
		}
		for _, i := range byRepo[repo] {
			if err := putManifest(ctx, named[i], index, opts.System); err != nil {
				return Result{}, fmt.Errorf("pushing index to %s: %w", named[i], err)
			}
			res.References = append(res.References, named[i].String())
		}
		d := descriptorFor(index, mediaType, nil)
		res.Digest, res.Manifests = d.Digest.String(), descs
	}
	return res, nil
}

// stageImages pushes every image from its node to repo under a staging tag
// and returns the descriptors of the manifests as the registry holds them.
func stageImages(ctx context.Context, images []Image, repo string, opts RegistryOptions) ([]ocispec.Descriptor, error) {
	limit := opts.Parallel
	if limit == 0 {
		limit = 4
	}
	descs := make([]ocispec.Descriptor, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i, img := range images {
		g.Go(func() error {
			ref := repo + ":" + opts.StagingTag + "-" + platform.Slug(img.Platform)
			if err := img.Push(gctx, ref); err != nil {
				return fmt.Errorf("pushing %s from %s to %s: %w", platform.Slug(img.Platform), img.Node, ref, err)
			}
			d, raw, err := readDescriptor(gctx, ref, opts.System)
			if err != nil {
				return fmt.Errorf("reading back %s: %w", ref, err)
			}
			if !IsImage(raw, d.Digest, img.ImageID) {
				return fmt.Errorf("%s holds manifest %s, not the image %s built on %s: was it pushed over concurrently?", ref, d.Digest, img.ImageID, img.Node)
			}
			if !opts.Docker && d.MediaType == MediaTypeDockerManifest {
				// Docker pushes docker media types; an OCI index gets the
				// same image described with OCI ones.
				converted, err := toOCIManifest(raw)
				if err != nil {
					return fmt.Errorf("converting %s: %w", ref, err)
				}
				named, err := reference.ParseNormalizedNamed(repo)
				if err != nil {
					return err
				}
				oci := descriptorFor(converted, ocispec.MediaTypeImageManifest, d.Platform)
				byDigest, err := reference.WithDigest(named, oci.Digest)
				if err != nil {
					return err
				}
				if err := putManifest(gctx, byDigest, converted, opts.System); err != nil {
					return fmt.Errorf("storing the OCI manifest of %s: %w", ref, err)
				}
				d = oci
			}
			descs[i] = d
			return nil
		})
	}
	return descs, g.Wait()
}

// readDescriptor fetches a manifest and its config from the registry and
// describes it for the index, with the platform its config declares.
func readDescriptor(ctx context.Context, ref string, sys *types.SystemContext) (ocispec.Descriptor, []byte, error) {
	ir, err := docker.ParseReference("//" + ref)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	src, err := ir.NewImageSource(ctx, sys)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	defer src.Close()
	raw, mime, err := src.GetManifest(ctx, nil)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	cfgDesc, mt, err := manifestConfig(raw)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if mime != "" {
		mt = mime
	}
	rc, _, err := src.GetBlob(ctx, types.BlobInfo{Digest: cfgDesc.Digest, Size: cfgDesc.Size}, none.NoCache)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("fetching config: %w", err)
	}
	defer rc.Close()
	cfg, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	p, err := configPlatform(cfg)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	return descriptorFor(raw, mt, p), raw, nil
}

// putManifest pushes a manifest to a tag or digest reference.
func putManifest(ctx context.Context, ref reference.Named, raw []byte, sys *types.SystemContext) error {
	ir, err := docker.NewReference(ref)
	if err != nil {
		return err
	}
	dest, err := ir.NewImageDestination(ctx, sys)
	if err != nil {
		return err
	}
	defer dest.Close()
	if err := dest.PutManifest(ctx, raw, nil); err != nil {
		return err
	}
	return dest.Commit(ctx, nil)
}
