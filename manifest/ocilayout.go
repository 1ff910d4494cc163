package manifest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/platform"
)

// AnnotationImageName is containerd's annotation for the full image name
// of an index.json entry.
const AnnotationImageName = "io.containerd.image.name"

// ToOCILayout streams every image from its node into the OCI image layout
// at dir (created if needed) and adds the multi-arch index to index.json
// under refName (replacing an entry of the same name). No local engine is
// involved.
func ToOCILayout(ctx context.Context, images []Image, dir, refName, imageName string, docker bool) (Result, error) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return Result{}, fmt.Errorf("creating OCI layout %s: %w", dir, err)
	}
	descs := make([]ocispec.Descriptor, len(images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, img := range images {
		g.Go(func() error {
			d, err := importArchive(gctx, img, dir)
			if err != nil {
				return fmt.Errorf("exporting %s from %s: %w", platform.Slug(img.Platform), img.Node, err)
			}
			descs[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	return writeLayoutIndex(dir, descs, refName, imageName, docker)
}

// writeLayoutIndex writes the index of descs into the layout and names it
// refName in index.json.
func writeLayoutIndex(dir string, descs []ocispec.Descriptor, refName, imageName string, docker bool) (Result, error) {
	index, err := NewIndex(descs, docker)
	if err != nil {
		return Result{}, err
	}
	mediaType := ocispec.MediaTypeImageIndex
	if docker {
		mediaType = MediaTypeDockerList
	}
	top := descriptorFor(index, mediaType, nil)
	if err := writeBlob(dir, top.Digest, index); err != nil {
		return Result{}, err
	}
	top.Annotations = map[string]string{ocispec.AnnotationRefName: refName}
	if imageName != "" {
		top.Annotations[AnnotationImageName] = imageName
	}
	if err := updateIndexJSON(dir, top); err != nil {
		return Result{}, err
	}
	return Result{Digest: top.Digest.String(), References: []string{"oci:" + dir + ":" + refName}, Manifests: descs}, nil
}

// importArchive copies the blobs of the image's archive (OCI, or docker's
// legacy format, which is converted) into the layout and returns the
// descriptor of its manifest.
func importArchive(ctx context.Context, img Image, dir string) (ocispec.Descriptor, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(img.Export(ctx, pw)) }()
	defer pr.Close()
	var archiveIndex []byte
	legacy := &legacyArchive{dir: dir, blobs: map[string]ocispec.Descriptor{}}
	tr := tar.NewReader(pr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("reading archive: %w", err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch {
		case name == "index.json":
			if archiveIndex, err = io.ReadAll(io.LimitReader(tr, 16<<20)); err != nil {
				return ocispec.Descriptor{}, err
			}
		case strings.HasPrefix(name, "blobs/sha256/") && h.Typeflag == tar.TypeReg:
			d := digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(name, "blobs/sha256/"))
			if err := d.Validate(); err != nil {
				return ocispec.Descriptor{}, fmt.Errorf("archive entry %s: %w", h.Name, err)
			}
			if err := copyBlob(dir, d, tr); err != nil {
				return ocispec.Descriptor{}, err
			}
		case h.Typeflag == tar.TypeReg:
			// A docker archive (docker save): config and layer files.
			if err := legacy.add(name, tr); err != nil {
				return ocispec.Descriptor{}, err
			}
		}
	}
	if archiveIndex == nil && legacy.manifest != nil {
		return legacy.finish()
	}
	var idx ocispec.Index
	if err := json.Unmarshal(archiveIndex, &idx); err != nil || len(idx.Manifests) != 1 {
		return ocispec.Descriptor{}, fmt.Errorf("archive has no single-image index.json")
	}
	md := idx.Manifests[0]
	if err := md.Digest.Validate(); err != nil || md.Digest.Algorithm() != digest.SHA256 {
		return ocispec.Descriptor{}, fmt.Errorf("archive index names a bad manifest digest %q", md.Digest)
	}
	mpath, err := blobPath(dir, md.Digest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive index: %w", err)
	}
	raw, err := os.ReadFile(mpath)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive lacks its manifest: %w", err)
	}
	cfgDesc, mt, err := manifestConfig(raw)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cpath, err := blobPath(dir, cfgDesc.Digest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive manifest: %w", err)
	}
	cfg, err := os.ReadFile(cpath)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("archive lacks its config: %w", err)
	}
	p, err := configPlatform(cfg)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if md.MediaType != "" {
		mt = md.MediaType
	}
	return descriptorFor(raw, mt, p), nil
}

// copyBlob writes r to the layout as blob d, verifying the digest, through
// a flushed temporary file. A blob that is already there is kept and r is
// drained.
func copyBlob(dir string, d digest.Digest, r io.Reader) error {
	path, err := blobPath(dir, d)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	v := d.Verifier()
	if _, err := io.Copy(io.MultiWriter(tmp, v), r); err != nil {
		tmp.Close()
		return err
	}
	if !v.Verified() {
		tmp.Close()
		return fmt.Errorf("blob %s: %w", d, errCorrupt)
	}
	return commitFile(tmp, path)
}

func writeBlob(dir string, d digest.Digest, data []byte) error {
	return copyBlob(dir, d, bytes.NewReader(data))
}

// updateIndexJSON adds desc to the layout's index.json, replacing an entry
// with the same ref name, and writes oci-layout.
func updateIndexJSON(dir string, desc ocispec.Descriptor) error {
	path := filepath.Join(dir, "index.json")
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &idx); err != nil {
			return fmt.Errorf("%s is not an OCI index: %w: choose an empty directory", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	ref := desc.Annotations[ocispec.AnnotationRefName]
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] != ref {
			kept = append(kept, m)
		}
	}
	idx.Manifests = append(kept, desc)
	out, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := writeFileAtomic(filepath.Join(dir, ocispec.ImageLayoutFile), layout, 0o644); err != nil {
		return err
	}
	return writeFileAtomic(path, out, 0o644)
}
