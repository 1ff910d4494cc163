package manifest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testImage is one small image: a config, a layer and its manifest.
type testImage struct {
	config, layer, manifest []byte
}

func newTestImage(arch string) testImage {
	layer := tarOf(map[string]string{"arch": arch + "\n"})
	cfg := []byte(`{"architecture":"` + arch + `","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromBytes(layer).String() + `"]}}`)
	man := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		digest.FromBytes(cfg).String() + `","size":` + strconv.Itoa(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` +
		digest.FromBytes(layer).String() + `","size":` + strconv.Itoa(len(layer)) + `}]}`)
	return testImage{config: cfg, layer: layer, manifest: man}
}

func tarOf(files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = io.WriteString(tw, data)
	}
	_ = tw.Close()
	return buf.Bytes()
}

// ociArchive is what podman's Export writes.
func (i testImage) ociArchive() []byte {
	idx := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + digest.FromBytes(i.manifest).String() +
		`","size":` + strconv.Itoa(len(i.manifest)) + `}]}`
	files := map[string]string{"oci-layout": `{"imageLayoutVersion":"1.0.0"}`, "index.json": idx}
	for _, b := range [][]byte{i.config, i.layer, i.manifest} {
		files["blobs/sha256/"+digest.FromBytes(b).Encoded()] = string(b)
	}
	return tarOf(files)
}

// dockerArchive is what docker save writes.
func (i testImage) dockerArchive() []byte {
	cfg := digest.FromBytes(i.config).Encoded() + ".json"
	return tarOf(map[string]string{
		"manifest.json": `[{"Config":"` + cfg + `","RepoTags":[],"Layers":["l1/layer.tar"]}]`,
		cfg:             string(i.config),
		"l1/layer.tar":  string(i.layer),
	})
}

func exporting(archive []byte) func(context.Context, io.Writer) error {
	return func(_ context.Context, w io.Writer) error {
		_, err := w.Write(archive)
		return err
	}
}

// layoutFile reads a file in the layout's image for arch.
func layoutFile(t *testing.T, dir, ref, arch, path string) string {
	t.Helper()
	read := func(d digest.Digest) []byte {
		data, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(data) != d {
			t.Fatalf("blob %s does not match its digest", d)
		}
		return data
	}
	var top, idx ocispec.Index
	data, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for _, m := range top.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == ref {
			_ = json.Unmarshal(read(m.Digest), &idx)
		}
	}
	for _, m := range idx.Manifests {
		if m.Platform.Architecture != arch {
			continue
		}
		var man ocispec.Manifest
		_ = json.Unmarshal(read(m.Digest), &man)
		tr := tar.NewReader(bytes.NewReader(read(man.Layers[0].Digest)))
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			if h.Name == path {
				b, _ := io.ReadAll(tr)
				return string(b)
			}
		}
	}
	t.Fatalf("no %s for %s under %s in %s", path, arch, ref, data)
	return ""
}

func TestToOCILayoutFromBothArchiveKinds(t *testing.T) {
	dir := t.TempDir()
	images := []Image{
		{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Node: "pm", Export: exporting(newTestImage("amd64").ociArchive())},
		{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, Node: "dk", Export: exporting(newTestImage("arm64").dockerArchive())},
	}
	res, err := ToOCILayout(context.Background(), images, dir, "1.0", "example/app:1.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Manifests) != 2 || !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("result = %+v", res)
	}
	if got := layoutFile(t, dir, "1.0", "amd64", "arch"); got != "amd64\n" {
		t.Errorf("amd64 image: %q", got)
	}
	if got := layoutFile(t, dir, "1.0", "arm64", "arch"); got != "arm64\n" {
		t.Errorf("arm64 image from a docker archive: %q", got)
	}
	// A second result under another name keeps the first.
	if _, err := ToOCILayout(context.Background(), images[:1], dir, "2.0", "", false); err != nil {
		t.Fatal(err)
	}
	if got := layoutFile(t, dir, "1.0", "arm64", "arch"); got != "arm64\n" {
		t.Errorf("the first result after a second: %q", got)
	}
	bad := []Image{{Platform: images[0].Platform, Node: "pm", Export: exporting([]byte("not an archive"))}}
	if _, err := ToOCILayout(context.Background(), bad, t.TempDir(), "x", "", false); err == nil {
		t.Error("an archive that is not one must fail")
	}
}

func TestOCILayoutFromStore(t *testing.T) {
	s, err := NewBlobServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	img := newTestImage("arm64")
	for _, b := range [][]byte{img.config, img.layer} {
		resp, err := http.Post(srv.URL+"/v2/farm/store/blobs/uploads/?digest="+digest.FromBytes(b).String(), "", bytes.NewReader(b))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("blob: %v %v", err, resp.Status)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/farm/store/manifests/t1", bytes.NewReader(img.manifest))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("manifest: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	dir := t.TempDir()
	staged := []Staged{{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, Node: "n", ImageID: digest.FromBytes(img.config).String(), Digest: digest.FromBytes(img.manifest)}}
	if _, err := OCILayoutFromStore(s, staged, dir, "1", "", false); err != nil {
		t.Fatal(err)
	}
	if got := layoutFile(t, dir, "1", "arm64", "arch"); got != "arm64\n" {
		t.Errorf("from the store: %q", got)
	}
}
