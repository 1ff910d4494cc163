// Package manifest assembles the multi-arch result of a farm build: the
// image index and its three destinations (the local engine's storage, a
// registry, an OCI image layout). It knows nodes only through the Image
// callbacks the caller gives it.
package manifest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of manifest lists in the docker format.
const (
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// Image is one platform's image on the node that built it.
type Image struct {
	// Platform is the platform it was built for.
	Platform ocispec.Platform
	// Node is the name of the node holding it.
	Node string
	// ImageID is the engine's image ID: its config digest, or (docker's
	// containerd image store) its manifest digest.
	ImageID string
	// Export writes the image as an OCI archive.
	Export func(ctx context.Context, w io.Writer) error
}

// Result is the assembled index.
type Result struct {
	// Digest is the index's digest (for the local engine: the list's ID).
	Digest string `json:"digest"`
	// References are where the index was stored.
	References []string `json:"references"`
	// Manifests are the per-platform manifests in the index.
	Manifests []ocispec.Descriptor `json:"manifests"`
}

// NewIndex returns an image index of the manifests, sorted by platform so
// the same images always give the same bytes. With docker true it is a
// docker manifest list, otherwise an OCI image index.
func NewIndex(manifests []ocispec.Descriptor, docker bool) ([]byte, error) {
	ms := append([]ocispec.Descriptor(nil), manifests...)
	sort.SliceStable(ms, func(i, j int) bool { return platformKey(ms[i].Platform) < platformKey(ms[j].Platform) })
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: ms}
	if docker {
		idx.MediaType = MediaTypeDockerList
	}
	return json.Marshal(idx)
}

func platformKey(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	return p.OS + "/" + p.Architecture + "/" + p.Variant
}

// configPlatform reads os, architecture and variant from an image config:
// the index describes the images as they are.
func configPlatform(config []byte) (*ocispec.Platform, error) {
	var c struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
		OSVersion    string `json:"os.version"`
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	if c.OS == "" || c.Architecture == "" {
		return nil, fmt.Errorf("image config has no os or architecture")
	}
	return &ocispec.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant, OSVersion: c.OSVersion}, nil
}

// manifestConfig returns the config descriptor of an image manifest (OCI
// or docker schema 2; both have the same shape).
func manifestConfig(raw []byte) (ocispec.Descriptor, string, error) {
	var m struct {
		MediaType string             `json:"mediaType"`
		Config    ocispec.Descriptor `json:"config"`
		Manifests []json.RawMessage  `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("reading manifest: %w", err)
	}
	if len(m.Manifests) > 0 || m.Config.Digest == "" {
		return ocispec.Descriptor{}, "", fmt.Errorf("not an image manifest (media type %q)", m.MediaType)
	}
	if err := m.Config.Digest.Validate(); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("manifest config digest: %w", err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest
	}
	return m.Config, mt, nil
}

// IsImage reports whether a pushed image manifest (raw, whose digest is
// d) is the image an engine calls id. Podman and docker's classic store
// name an image by its config digest, docker's containerd image store by
// its manifest digest; either must match exactly.
func IsImage(raw []byte, d digest.Digest, id string) bool {
	cfg, _, err := manifestConfig(raw)
	if err != nil {
		return false // an index, or no manifest at all
	}
	want := "sha256:" + strings.TrimPrefix(id, "sha256:")
	return d.String() == want || cfg.Digest.String() == want
}

// descriptorFor describes a manifest for an index.
func descriptorFor(raw []byte, mediaType string, p *ocispec.Platform) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw)), Platform: p}
}
