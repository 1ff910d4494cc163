package farm

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
)

// pinnedBase is one FROM image resolved on the client.
type pinnedBase struct {
	// Ref is the image as the Containerfile names it (build args applied).
	Ref string
	// Pinned is name@digest of the image (its index, for a multi-arch one).
	Pinned string
	// PerPlatform is each requested platform's manifest digest.
	PerPlatform map[string]string
}

// pinBases resolves every FROM image of the Containerfile to a digest, on
// the client, and writes a copy of the Containerfile whose FROM lines name
// exactly those digests into dir. Every node then builds from the same
// bytes, whatever its local copy of the base is.
func pinBases(ctx context.Context, path string, buildArgs map[string]string, want []ocispec.Platform, dir string, sys *types.SystemContext) (string, []pinnedBase, error) {
	f, err := containerfile.Read(path, buildArgs)
	if err != nil {
		return "", nil, err
	}
	var pins []pinnedBase
	images := make([]string, len(f.Froms))
	for i, r := range f.Froms {
		pin, err := resolveBase(ctx, r.Image, want, sys)
		if err != nil {
			return "", nil, fmt.Errorf("%w: --pin-base: resolving %s: %v", errdefs.ErrUsage, r.Image, err)
		}
		pins = append(pins, pin)
		images[i] = pin.Pinned
	}
	pinned := filepath.Join(dir, "Containerfile.pinned")
	return pinned, pins, os.WriteFile(pinned, f.WithImages(images), 0o644)
}

// resolveBase looks an image up in its registry and returns its digest
// and, for a multi-arch image, each wanted platform's manifest digest.
func resolveBase(ctx context.Context, image string, want []ocispec.Platform, sys *types.SystemContext) (pinnedBase, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return pinnedBase{}, err
	}
	if !containerfile.FullyQualified(image) {
		return pinnedBase{}, fmt.Errorf("a short name resolves differently on each node and cannot be pinned: give the full name, e.g. docker.io/library/%s", image)
	}
	ref, err := docker.NewReference(reference.TagNameOnly(named))
	if _, digested := named.(reference.Digested); digested {
		ref, err = docker.NewReference(named)
	}
	if err != nil {
		return pinnedBase{}, err
	}
	src, err := ref.NewImageSource(ctx, sys)
	if err != nil {
		return pinnedBase{}, err
	}
	defer src.Close()
	raw, _, err := src.GetManifest(ctx, nil)
	if err != nil {
		return pinnedBase{}, err
	}
	d := digest.FromBytes(raw)
	pin := pinnedBase{Ref: image, Pinned: named.Name() + "@" + d.String(), PerPlatform: map[string]string{}}
	var idx ocispec.Index
	if json.Unmarshal(raw, &idx) == nil && len(idx.Manifests) > 0 {
		for _, p := range want {
			for _, m := range idx.Manifests {
				if m.Platform != nil && platform.Satisfies(*m.Platform, p) {
					pin.PerPlatform[platform.Format(p)] = m.Digest.String()
					break
				}
			}
			if _, ok := pin.PerPlatform[platform.Format(p)]; !ok {
				return pinnedBase{}, fmt.Errorf("it has no image for %s", platform.Format(p))
			}
		}
		return pin, nil
	}
	for _, p := range want {
		pin.PerPlatform[platform.Format(p)] = d.String()
	}
	return pin, nil
}
