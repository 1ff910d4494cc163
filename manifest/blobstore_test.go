package manifest

import (
	"bytes"
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

// storeClient talks to a BlobServer over HTTP the way a node's engine
// does.
type storeClient struct {
	t   *testing.T
	url string
}

func serveStore(t *testing.T, s *BlobServer) storeClient {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return storeClient{t: t, url: srv.URL}
}

// do sends a request to path and returns its status and body.
func (c storeClient) do(method, path string, body []byte) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// start starts an upload and returns its location.
func (c storeClient) start() string {
	c.t.Helper()
	resp, err := http.Post(c.url+"/v2/farm/store/blobs/uploads/", "", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("starting an upload: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// upload pushes b as one monolithic upload and returns the status.
func (c storeClient) upload(b []byte) int {
	code, _ := c.do(http.MethodPost, "/v2/farm/store/blobs/uploads/?digest="+digest.FromBytes(b).String(), b)
	return code
}

// putManifest puts raw under ref and returns the status.
func (c storeClient) putManifest(ref string, raw []byte) int {
	code, _ := c.do(http.MethodPut, "/v2/farm/store/manifests/"+ref, raw)
	return code
}

// push uploads the image's blobs and puts its manifest under tag.
func (c storeClient) push(img testImage, tag string) {
	c.t.Helper()
	for _, b := range [][]byte{img.config, img.layer} {
		if code := c.upload(b); code != http.StatusCreated {
			c.t.Fatalf("uploading a blob: %d", code)
		}
	}
	if code := c.putManifest(tag, img.manifest); code != http.StatusCreated {
		c.t.Fatalf("putting the manifest: %d", code)
	}
}

// manifestOf returns an image manifest naming the config and layer
// digests and sizes given.
func manifestOf(config digest.Digest, configSize int, layer digest.Digest, layerSize int) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		string(config) + `","size":` + strconv.Itoa(configSize) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` +
		string(layer) + `","size":` + strconv.Itoa(layerSize) + `}]}`)
}

func stagedOf(raw []byte) []Staged {
	return []Staged{{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, Node: "n", Digest: digest.FromBytes(raw)}}
}

func newStore(t *testing.T, dir string) *BlobServer {
	t.Helper()
	s, err := NewBlobServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A store blob that rotted on disk since an earlier run stored it must not
// land in a layout: the export fails and the blob leaves the store, so
// that the next push restores it.
func TestOCILayoutFromStoreRefusesCorruptBlobs(t *testing.T) {
	storeDir := t.TempDir()
	earlier := newStore(t, storeDir)
	img := newTestImage("arm64")
	serveStore(t, earlier).push(img, "t1")
	if err := earlier.Close(); err != nil {
		t.Fatal(err)
	}
	layer := digest.FromBytes(img.layer)
	rotten := bytes.ToUpper(img.layer)
	if err := os.WriteFile(filepath.Join(storeDir, "blobs", "sha256", layer.Encoded()), rotten, 0o644); err != nil {
		t.Fatal(err)
	}
	// This run's node finds the blobs there and puts only its manifest.
	s := newStore(t, storeDir)
	if code := serveStore(t, s).putManifest("t1", img.manifest); code != http.StatusCreated {
		t.Fatalf("putting the manifest: %d", code)
	}
	dir := t.TempDir()
	if _, err := OCILayoutFromStore(s, stagedOf(img.manifest), dir, "1", "", false); err == nil {
		t.Error("a corrupt store blob must fail the export")
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", layer.Encoded())); err == nil {
		t.Error("the corrupt blob landed in the layout")
	}
	if s.HasBlob(layer) {
		t.Error("the corrupt blob must leave the store")
	}
}

// A manifest whose descriptor gives a blob the wrong size is refused when
// the layout is written.
func TestOCILayoutFromStoreChecksBlobSizes(t *testing.T) {
	s := newStore(t, t.TempDir())
	img := newTestImage("arm64")
	c := serveStore(t, s)
	c.push(img, "good")
	lying := manifestOf(digest.FromBytes(img.config), len(img.config), digest.FromBytes(img.layer), len(img.layer)+1)
	if code := c.putManifest("lying", lying); code != http.StatusCreated {
		t.Fatalf("put: %d", code)
	}
	if _, err := OCILayoutFromStore(s, stagedOf(lying), t.TempDir(), "1", "", false); err == nil || !strings.Contains(err.Error(), "size") {
		t.Errorf("a wrong blob size must fail the export: %v", err)
	}
}

// Manifests and their records are replaced by a rename, never rewritten
// in place: a crash mid-write cannot leave a torn record or manifest.
func TestBlobServerReplacesManifestFilesAtomically(t *testing.T) {
	storeDir := t.TempDir()
	s := newStore(t, storeDir)
	c := serveStore(t, s)
	raw := []byte(`{"schemaVersion":2}`)
	d := digest.FromBytes(raw)
	files := []string{
		filepath.Join(storeDir, "blobs", "sha256", d.Encoded()),
		filepath.Join(storeDir, "manifests", "tag-t.json"),
		filepath.Join(storeDir, "manifests", "digest-sha256_"+d.Encoded()+".json"),
	}
	if code := c.putManifest("t", raw); code != http.StatusCreated {
		t.Fatalf("put: %d", code)
	}
	before := make([]os.FileInfo, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		before[i] = fi
	}
	if code := c.putManifest("t", raw); code != http.StatusCreated {
		t.Fatalf("second put: %d", code)
	}
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(before[i], fi) {
			t.Errorf("%s was rewritten in place", filepath.Base(f))
		}
	}
	if got, _, _, err := s.Manifest("t"); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("Manifest = %s, %v", got, err)
	}
}

// Every file the store and a layout keep was flushed to disk before it
// was renamed into place.
func TestStoreAndLayoutFlushBeforeRename(t *testing.T) {
	synced := map[digest.Digest]bool{}
	orig := syncFile
	syncFile = func(f *os.File) error {
		if data, err := os.ReadFile(f.Name()); err == nil {
			synced[digest.FromBytes(data)] = true
		}
		return orig(f)
	}
	defer func() { syncFile = orig }()
	storeDir, dir := t.TempDir(), t.TempDir()
	s := newStore(t, storeDir)
	img := newTestImage("arm64")
	serveStore(t, s).push(img, "t1")
	if _, err := OCILayoutFromStore(s, stagedOf(img.manifest), dir, "1", "", false); err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, d := range []string{filepath.Join(storeDir, "blobs", "sha256"), filepath.Join(storeDir, "manifests"), filepath.Join(dir, "blobs", "sha256"), dir} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				kept = append(kept, filepath.Join(d, e.Name()))
			}
		}
	}
	if len(kept) < 11 {
		t.Fatalf("only %d files: %v", len(kept), kept)
	}
	for _, f := range kept {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !synced[digest.FromBytes(data)] {
			t.Errorf("%s was not flushed before it was renamed into place", f)
		}
	}
}
