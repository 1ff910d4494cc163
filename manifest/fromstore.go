package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	blobs := append([]ocispec.Descriptor{m.Config}, m.Layers...)
	for _, b := range blobs {
		if err := checkDigest(b.Digest); err != nil {
			return nil, ocispec.Descriptor{}, nil, fmt.Errorf("%s from %s: manifest %s: %w", platform.Slug(s.Platform), s.Node, s.Digest, err)
		}
	}
	config, err := store.readBlob(m.Config.Digest, maxConfig)
	if err != nil {
		return nil, ocispec.Descriptor{}, nil, fmt.Errorf("reading the config of %s from %s: %w", platform.Slug(s.Platform), s.Node, err)
	}
	p, err := configPlatform(config)
	if err != nil {
		return nil, ocispec.Descriptor{}, nil, err
	}
	return raw, descriptorFor(raw, mt, p), blobs, nil
}

// maxConfig is the largest image config read from the store.
const maxConfig = 32 << 20

// OCILayoutFromStore writes the staged images and their index into the OCI
// layout at dir, linking (or copying) the blobs from the store, and names
// the index refName in index.json. Every blob is checked against its
// descriptor's digest and size first.
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
			if err := linkBlob(store, dir, b); err != nil {
				return Result{}, fmt.Errorf("%s from %s: %w", platform.Slug(s.Platform), s.Node, err)
			}
		}
		if err := writeBlob(dir, desc.Digest, raw); err != nil {
			return Result{}, err
		}
		descs[i] = desc
	}
	return writeLayoutIndex(dir, descs, refName, imageName, docker)
}

// linkBlob hard-links the store's blob b into the layout at dir, copying
// it when it cannot link. A blob this run did not receive (the store had
// it) is checked first: one that does not match its digest is removed
// from the store. One of another size than the descriptor's is refused.
func linkBlob(store *BlobServer, dir string, b ocispec.Descriptor) error {
	to, err := blobPath(dir, b.Digest)
	if err != nil {
		return err
	}
	from, err := store.blobFile(b.Digest)
	if err != nil {
		return err
	}
	if _, err := os.Stat(to); err == nil {
		return nil
	}
	f, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("opening store blob %s: %w", b.Digest, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening store blob %s: %w", b.Digest, err)
	}
	if store.checkedThisRun(b.Digest) {
		// Checked as it arrived; only its size is left to compare.
		if fi.Size() != b.Size {
			return fmt.Errorf("blob %s has %d bytes, its descriptor says size %d", b.Digest, fi.Size(), b.Size)
		}
	} else if err := verifyFile(f, b.Digest, b.Size); err != nil {
		if errors.Is(err, errCorrupt) {
			dropCorrupt(from, fi)
			return fmt.Errorf("the store's copy was corrupt and is removed: %w", err)
		}
		return err
	}
	if err := os.Link(from, to); err == nil {
		// The link must be to the file just checked.
		if li, err := os.Stat(to); err == nil && os.SameFile(li, fi) {
			syncDir(filepath.Dir(to))
			return nil
		}
		_ = os.Remove(to)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return copyBlob(dir, b.Digest, f)
}

// Puller is what LocalFromStore needs from the local engine.
type Puller interface {
	LocalEngine
	// Pull pulls ref over plain HTTP and returns the image's ID.
	Pull(ctx context.Context, ref string) (string, error)
}

// LocalLoader has the local engine pull staged images from the store,
// served on loopback for the occasion (layers it already has are
// skipped), one at a time, each as soon as it is staged.
type LocalLoader struct {
	local Puller
	store *BlobServer
	srv   *http.Server
	addr  string
}

// NewLocalLoader serves the store to the local engine until Close.
func NewLocalLoader(local Puller, store *BlobServer) (*LocalLoader, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: store}
	go func() { _ = srv.Serve(ln) }()
	return &LocalLoader{local: local, store: store, srv: srv, addr: ln.Addr().String()}, nil
}

// Load pulls the staged image into the local engine and returns its ID.
func (l *LocalLoader) Load(ctx context.Context, s Staged) (string, error) {
	if _, _, _, err := storedImage(l.store, s, true); err != nil {
		return "", err
	}
	id, err := l.local.Pull(ctx, l.addr+"/farm/store@"+string(s.Digest))
	if err != nil {
		return "", fmt.Errorf("bringing %s from %s into local storage: %w", platform.Slug(s.Platform), s.Node, err)
	}
	return id, nil
}

// List creates the manifest list of the loaded images, named by the
// first tag and tagged with the others.
func (l *LocalLoader) List(ctx context.Context, ids, tags []string) (Result, error) {
	return createList(ctx, l.local, ids, tags)
}

// Close stops serving the store.
func (l *LocalLoader) Close() { _ = l.srv.Close() }
