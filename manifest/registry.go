package manifest

import (
	"context"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
)

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
