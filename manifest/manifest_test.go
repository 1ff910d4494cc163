package manifest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestNewIndexIsDeterministic(t *testing.T) {
	a := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("a"), Size: 1, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}}
	b := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("b"), Size: 1, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	one, err := NewIndex([]ocispec.Descriptor{a, b}, false)
	if err != nil {
		t.Fatal(err)
	}
	two, _ := NewIndex([]ocispec.Descriptor{b, a}, false)
	if !bytes.Equal(one, two) || !strings.Contains(string(one), ocispec.MediaTypeImageIndex) {
		t.Errorf("index depends on order or has the wrong type:\n%s\n%s", one, two)
	}
	if docker, _ := NewIndex([]ocispec.Descriptor{a}, true); !strings.Contains(string(docker), MediaTypeDockerList) {
		t.Errorf("docker list: %s", docker)
	}
}

func TestToOCIManifest(t *testing.T) {
	in := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
	 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":10},
	 "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:` + strings.Repeat("b", 64) + `","size":20}]}`
	out, err := toOCIManifest([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ocispec.MediaTypeImageConfig || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip || m.Layers[0].Size != 20 {
		t.Errorf("converted: %s", out)
	}
}

func TestConfigPlatform(t *testing.T) {
	p, err := configPlatform([]byte(`{"os":"linux","architecture":"arm","variant":"v7"}`))
	if err != nil || p.Architecture != "arm" || p.Variant != "v7" {
		t.Errorf("configPlatform = %+v, %v", p, err)
	}
	if _, err := configPlatform([]byte(`{}`)); err == nil {
		t.Error("a config without os and architecture must be refused")
	}
}

// TestBlobServerUploads runs the registry handler through the calls a
// chunked push makes, and checks that a wrong digest is refused.
func TestBlobServerUploads(t *testing.T) {
	s, err := NewBlobServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	do := func(method, url string, body string) *http.Response {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	blob := "hello blob"
	d := digest.FromString(blob)
	if r := do(http.MethodHead, srv.URL+"/v2/farm/store/blobs/"+d.String(), ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD of a missing blob: %d", r.StatusCode)
	}
	start := do(http.MethodPost, srv.URL+"/v2/farm/store/blobs/uploads/", "")
	loc := start.Header.Get("Location")
	if start.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("POST upload: %d %q", start.StatusCode, loc)
	}
	if r := do(http.MethodPatch, srv.URL+loc, blob[:5]); r.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %d", r.StatusCode)
	}
	if r := do(http.MethodPut, srv.URL+loc+"?digest="+d.String(), blob[5:]); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d", r.StatusCode)
	}
	if r := do(http.MethodHead, srv.URL+"/v2/farm/store/blobs/"+d.String(), ""); r.StatusCode != http.StatusOK || r.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD after upload: %d %s", r.StatusCode, r.Header.Get("Content-Length"))
	}
	bad := do(http.MethodPost, srv.URL+"/v2/farm/store/blobs/uploads/?digest="+digest.FromString("other").String(), "not other")
	if bad.StatusCode != http.StatusBadRequest {
		t.Errorf("a blob that does not match its digest must be refused: %d", bad.StatusCode)
	}
	if s.Received() != int64(len(blob)+len("not other")) {
		t.Errorf("Received = %d", s.Received())
	}
}

func TestBlobServerRefusesForgedManifests(t *testing.T) {
	s, err := NewBlobServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	put := func(ref, body string) int {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/farm/store/manifests/"+ref, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	real := `{"schemaVersion":2}`
	if code := put(digest.FromString("something else").String(), real); code != http.StatusBadRequest {
		t.Errorf("a manifest put under another digest: %d", code)
	}
	if code := put("mytag", real); code != http.StatusCreated {
		t.Fatalf("put by tag: %d", code)
	}
	// A tag spelled like a digest is a different record than the digest.
	if _, _, _, err := s.Manifest("sha256_" + strings.Repeat("0", 64)); err == nil {
		t.Error("a tag must not resolve as a digest record")
	}
	if code := put("big", strings.Repeat("x", 4<<20+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized manifest: %d", code)
	}
}

func TestIsImage(t *testing.T) {
	cfg := digest.FromString("config")
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cfg.String() + `","size":6},"layers":[]}`)
	d := digest.FromBytes(raw)
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{cfg.String(), true},  // podman, docker's classic store: the config digest
		{cfg.Encoded(), true}, // without the algorithm
		{d.String(), true},    // docker's containerd store: the manifest digest
		{digest.FromString("other").String(), false},
		{"", false},
	} {
		if got := IsImage(raw, d, tc.id); got != tc.want {
			t.Errorf("IsImage(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"` + d.String() + `"}]}`)
	if IsImage(index, digest.FromBytes(index), digest.FromBytes(index).String()) {
		t.Error("an index is not an image, whatever its digest")
	}
}

func TestRequireLogin(t *testing.T) {
	s, err := NewBlobServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(RequireLogin(s, "farm", "run-secret"))
	defer srv.Close()
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"", "", http.StatusUnauthorized}, {"farm", "wrong", http.StatusUnauthorized}, {"other", "run-secret", http.StatusUnauthorized}, {"farm", "run-secret", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic")) {
			t.Errorf("%s:%s: %d %q, want %d", tc.user, tc.pass, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.want)
		}
	}
}

func TestBlobServerSweepsStaleUploads(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewBlobServer(dir); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(dir, "uploads", "upload-old"), filepath.Join(dir, "uploads", "upload-new")
	staleTmp := []string{filepath.Join(dir, "blobs", "sha256", ".tmp-1"), filepath.Join(dir, "manifests", ".tmp-2")}
	for _, f := range append([]string{stale, fresh}, staleTmp...) {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, f := range append([]string{stale}, staleTmp...) {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewBlobServer(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a day-old upload must be swept")
	}
	for _, f := range staleTmp {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("a day-old temporary file must be swept: %s", f)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("an upload of a running build must stay")
	}
}
