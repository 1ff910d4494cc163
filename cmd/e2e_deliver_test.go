//go:build e2e

package cmd

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestE2EDeliveryCompressionByPath: on podman 5 and podman 4 nodes, a
// delivery into local storage moves the layers in zstd and gives the
// local engine the very image the node built; an OCI layout and a push
// of the same image then get gzip layers, although the store holds the
// zstd copy the local delivery left (podman 4 would reuse it).
func TestE2EDeliveryCompressionByPath(t *testing.T) {
	for _, n := range []struct{ name, uri string }{{"p5", theFarm.podman5}, {"p1", theFarm.podman1}} {
		t.Run(n.name, func(t *testing.T) {
			home := e2eHome(t, true)
			addNode(t, n.name, n.uri)
			dir := writeContext(t, "FROM scratch\nCOPY blob.bin /blob.bin\n")
			blob := make([]byte, 2<<20)
			_, _ = rand.Read(blob)
			if err := os.WriteFile(filepath.Join(dir, "blob.bin"), blob, 0o644); err != nil {
				t.Fatal(err)
			}
			build := func(args ...string) platformMetadata {
				t.Helper()
				meta := filepath.Join(t.TempDir(), "meta.json")
				args = append([]string{"build", "--platforms", "linux/amd64", "--metadata-file", meta}, append(args, dir)...)
				if out, errOut, err := farmCLI(t, args...); err != nil {
					t.Fatalf("farm %s: %v\n%s\n%s", strings.Join(args, " "), err, out, errOut)
				}
				var md buildMetadata
				data, _ := os.ReadFile(meta)
				if err := json.Unmarshal(data, &md); err != nil || len(md.Platforms) != 1 {
					t.Fatalf("metadata: %s (%v)", data, err)
				}
				return md.Platforms[0]
			}

			name := "localhost/e2e-deliver-" + uniq()
			t.Cleanup(func() { _ = runQuiet("podman", "manifest", "rm", name) })
			built := build("-t", name)
			t.Cleanup(func() { _ = runQuiet("podman", "rmi", built.ImageID) })
			// The local engine holds the node's image: same ID (its
			// config, naming every layer's uncompressed digest), listed.
			local := strings.TrimSpace(run(t, "podman", "image", "inspect", "--format", "{{.ID}} {{.Digest}}", built.ImageID))
			id, dg, _ := strings.Cut(local, " ")
			if id != strings.TrimPrefix(built.ImageID, "sha256:") {
				t.Errorf("local image %s, the node built %s", id, built.ImageID)
			}
			if list := run(t, "podman", "manifest", "inspect", name); !strings.Contains(list, dg) {
				t.Errorf("the list %s does not name the local image %s: %s", name, dg, list)
			}
			if n := zstdBlobs(t, filepath.Join(home, ".cache", "farm", "store")); n == 0 {
				t.Error("a local delivery must move its layers in zstd: the store holds no zstd blob")
			}

			// The same image (a cache hit on the node) into a layout.
			dest := filepath.Join(t.TempDir(), "oci")
			again := build("--output", "type=oci,dest="+dest, "-t", "x:1")
			if again.ImageID != built.ImageID {
				t.Fatalf("the second build made %s, not the cached %s", again.ImageID, built.ImageID)
			}
			l := ociLayout{t: t, dir: dest}
			for _, m := range l.index("1").Manifests {
				checkGzipLayers(t, "the OCI layout", l.blob(m.Digest.String()), l.blob)
			}

			// And pushed: the registry gets gzip layers too.
			ref := theFarm.registry + "/e2e-deliver-" + n.name + ":" + uniq()
			build("--push", "--tls-verify=false", "-t", ref)
			pulled := pullToLayout(t, ref)
			for _, m := range pulled.index("t").Manifests {
				raw := run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+theFarm.registry+"/e2e-deliver-"+n.name+"@"+m.Digest.String())
				checkGzipLayers(t, "the pushed image", []byte(raw), pulled.blob)
			}
		})
	}
}

// checkGzipLayers checks that every layer of the image manifest raw is
// gzip, by media type and by content (read with blob).
func checkGzipLayers(t *testing.T, what string, raw []byte, blob func(string) []byte) {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("%s: manifest %s (%v)", what, raw, err)
	}
	for _, layer := range m.Layers {
		data := blob(layer.Digest.String())
		if !strings.HasSuffix(layer.MediaType, "gzip") || !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: layer %s is %s, starting % x: want gzip", what, layer.Digest, layer.MediaType, data[:min(4, len(data))])
		}
	}
}

// zstdBlobs counts the blobs in farm's store that are zstd data.
func zstdBlobs(t *testing.T, store string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		f, err := os.Open(filepath.Join(store, "blobs", "sha256", e.Name()))
		if err != nil {
			continue
		}
		head := make([]byte, 4)
		if _, err := f.Read(head); err == nil && bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			n++
		}
		f.Close()
	}
	return n
}
