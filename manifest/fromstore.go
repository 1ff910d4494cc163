package manifest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/platform"
)

// Staged is one platform's image in the client's blob store.
type Staged struct {
	// Platform is the platform it was built for.
	Platform ocispec.Platform
	// Node built it.
	Node string
	// ImageID is the engine's image ID (its config digest).
	ImageID string
	// Digest is the manifest's digest in the store.
	Digest digest.Digest
}

// storedImage reads a staged image's manifest, converted to OCI media
// types unless docker, and describes it for an index.
func storedImage(store *BlobServer, s Staged, docker bool) ([]byte, ocispec.Descriptor, []ocispec.Descriptor, error) {
	raw, mt, _, err := store.Manifest(string(s.Digest))
	if err != nil {
		return nil, ocispec.Descriptor{}, nil, fmt.Errorf("%s from %s is not in the store: %w", platform.Slug(s.Platform), s.Node, err)
	}
	if !docker && mt == MediaTypeDockerManifest {
		if raw, err = toOCIManifest(raw); err != nil {
			return nil, ocispec.Descriptor{}, nil, err
		}
		mt = ocispec.MediaTypeImageManifest
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, ocispec.Descriptor{}, nil, err
	}
	config, err := os.ReadFile(store.blobFile(m.Config.Digest))
	if err != nil {
		return nil, ocispec.Descriptor{}, nil, err
	}
	p, err := configPlatform(config)
	if err != nil {
		return nil, ocispec.Descriptor{}, nil, err
	}
	return raw, descriptorFor(raw, mt, p), append([]ocispec.Descriptor{m.Config}, m.Layers...), nil
}

// OCILayoutFromStore writes the staged images and their index into the OCI
// layout at dir, linking (or copying) the blobs from the store, and names
// the index refName in index.json.
func OCILayoutFromStore(store *BlobServer, staged []Staged, dir, refName, imageName string, docker bool) (Result, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return Result{}, fmt.Errorf("creating OCI layout %s: %w", dir, err)
	}
	descs := make([]ocispec.Descriptor, len(staged))
	for i, s := range staged {
		raw, desc, blobs, err := storedImage(store, s, docker)
		if err != nil {
			return Result{}, err
		}
		for _, b := range blobs {
			if err := linkBlob(store, dir, b.Digest); err != nil {
				return Result{}, err
			}
		}
		if err := writeBlob(dir, desc.Digest, raw); err != nil {
			return Result{}, err
		}
		descs[i] = desc
	}
	return writeLayoutIndex(dir, descs, refName, imageName, docker)
}

// linkBlob hard-links blob d from the store into the layout at dir,
// copying (and verifying) when it cannot link.
func linkBlob(store *BlobServer, dir string, d digest.Digest) error {
	to := blobPath(dir, d)
	if _, err := os.Stat(to); err == nil {
		return nil
	}
	if err := os.Link(store.blobFile(d), to); err == nil {
		return nil
	}
	f, err := os.Open(store.blobFile(d))
	if err != nil {
		return err
	}
	defer f.Close()
	return copyBlob(dir, d, f)
}

// Puller is what LocalFromStore needs from the local engine.
type Puller interface {
	LocalEngine
	// Pull pulls ref over plain HTTP and returns the image's ID.
	Pull(ctx context.Context, ref string) (string, error)
}

// LocalFromStore has the local engine pull the staged images from the
// store, served on loopback for the occasion (layers it already has are
// skipped), and creates the manifest list named by the first tag.
func LocalFromStore(ctx context.Context, local Puller, store *BlobServer, staged []Staged, tags []string) (Result, error) {
	if len(tags) == 0 {
		return Result{}, fmt.Errorf("a local result needs a name: give -t NAME")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	srv := &http.Server{Handler: store}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	ids := make([]string, len(staged))
	for i, s := range staged {
		if _, _, _, err := storedImage(store, s, true); err != nil {
			return Result{}, err
		}
		id, err := local.Pull(ctx, ln.Addr().String()+"/farm/store@"+string(s.Digest))
		if err != nil {
			return Result{}, fmt.Errorf("bringing %s from %s into local storage: %w", platform.Slug(s.Platform), s.Node, err)
		}
		ids[i] = id
	}
	return createList(ctx, local, ids, tags)
}
