package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's media types, and their OCI counterparts.
var dockerToOCI = map[string]string{
	MediaTypeDockerManifest:                             ocispec.MediaTypeImageManifest,
	"application/vnd.docker.container.image.v1+json":    ocispec.MediaTypeImageConfig,
	"application/vnd.docker.image.rootfs.diff.tar.gzip": ocispec.MediaTypeImageLayerGzip,
	"application/vnd.docker.image.rootfs.diff.tar":      ocispec.MediaTypeImageLayer,
	//lint:ignore SA1019 docker's foreign layers (Windows bases) still exist and map here
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": ocispec.MediaTypeImageLayerNonDistributableGzip,
}

// toOCIManifest rewrites a docker schema 2 manifest with OCI media types.
// The blobs stay the same; only the (small) manifest changes.
func toOCIManifest(raw []byte) ([]byte, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m.MediaType = ocispec.MediaTypeImageManifest
	if mt, ok := dockerToOCI[m.Config.MediaType]; ok {
		m.Config.MediaType = mt
	}
	for i, l := range m.Layers {
		if mt, ok := dockerToOCI[l.MediaType]; ok {
			m.Layers[i].MediaType = mt
		}
	}
	return json.Marshal(m)
}

// legacyArchive collects a `docker save` archive (manifest.json, config
// and layer.tar files) into an OCI layout while it streams.
type legacyArchive struct {
	dir      string
	blobs    map[string]ocispec.Descriptor // archive path -> blob
	manifest []byte
}

// add stores one archive entry: config and layer files become blobs.
func (a *legacyArchive) add(name string, r io.Reader) error {
	if name == "manifest.json" {
		data, err := io.ReadAll(io.LimitReader(r, 16<<20))
		a.manifest = data
		return err
	}
	if filepath.Ext(name) != ".json" && filepath.Base(name) != "layer.tar" {
		return nil
	}
	d, size, err := writeUnknownBlob(a.dir, r)
	if err != nil {
		return err
	}
	a.blobs[name] = ocispec.Descriptor{Digest: d, Size: size}
	return nil
}

// finish writes an OCI manifest for the archive's single image and
// returns its descriptor.
func (a *legacyArchive) finish() (ocispec.Descriptor, error) {
	var entries []struct {
		Config string
		Layers []string
	}
	if err := json.Unmarshal(a.manifest, &entries); err != nil || len(entries) != 1 {
		return ocispec.Descriptor{}, fmt.Errorf("docker archive has no single-image manifest.json")
	}
	cfg, ok := a.blobs[entries[0].Config]
	if !ok || cfg.Digest.Validate() != nil {
		return ocispec.Descriptor{}, fmt.Errorf("docker archive lacks its config %s", entries[0].Config)
	}
	cfg.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
	for _, l := range entries[0].Layers {
		d, ok := a.blobs[l]
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("docker archive lacks layer %s", l)
		}
		d.MediaType = ocispec.MediaTypeImageLayer
		m.Layers = append(m.Layers, d)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := descriptorFor(raw, ocispec.MediaTypeImageManifest, nil)
	if err := writeBlob(a.dir, desc.Digest, raw); err != nil {
		return ocispec.Descriptor{}, err
	}
	cpath, err := blobPath(a.dir, cfg.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	config, err := os.ReadFile(cpath)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if desc.Platform, err = configPlatform(config); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// writeUnknownBlob stores r in the layout under its sha256, through a
// flushed temporary file.
func writeUnknownBlob(dir string, r io.Reader) (digest.Digest, int64, error) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	tmp, err := os.CreateTemp(blobs, ".tmp-")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		tmp.Close()
		return "", 0, err
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	path, err := blobPath(dir, d)
	if err != nil {
		tmp.Close()
		return "", 0, err
	}
	return d, n, commitFile(tmp, path)
}
