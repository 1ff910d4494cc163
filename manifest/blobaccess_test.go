package manifest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// A node's manifest naming a "digest" that is a path is refused.
func TestBlobServerRefusesManifestsWithPathDigests(t *testing.T) {
	s := newStore(t, t.TempDir())
	c := serveStore(t, s)
	img := newTestImage("arm64")
	c.push(img, "good")
	cfg := digest.FromBytes(img.config)
	for _, bad := range []digest.Digest{"sha256:../../../../etc/passwd", "sha512:" + digest.Digest(strings.Repeat("0", 128)), "sha256:" + digest.Digest(strings.Repeat("A", 64))} {
		if code := c.putManifest("evil", manifestOf(cfg, len(img.config), bad, 1)); code != http.StatusBadRequest {
			t.Errorf("a manifest naming layer %q: %d", bad, code)
		}
		if code := c.putManifest("evil", manifestOf(bad, 1, digest.FromBytes(img.layer), len(img.layer))); code != http.StatusBadRequest {
			t.Errorf("a manifest naming config %q: %d", bad, code)
		}
	}
	for _, tag := range []string{"a:b", ".hidden", "x\\y", strings.Repeat("t", 129)} {
		if code := c.putManifest(tag, img.manifest); code != http.StatusBadRequest {
			t.Errorf("a manifest put under tag %q: %d", tag, code)
		}
	}
}

// Digests in a manifest already in the store (written by an older farm,
// or by hand) never become paths outside the store or the layout.
func TestOCILayoutFromStoreRefusesPathDigests(t *testing.T) {
	root := t.TempDir()
	storeDir, layout := filepath.Join(root, "a", "store"), filepath.Join(root, "b", "layout")
	s := newStore(t, storeDir)
	// A client file the crafted digests reach from the store's blob directory.
	secret := []byte(`{"os":"linux","architecture":"arm64","secret":"hunter2"}`)
	if err := os.WriteFile(filepath.Join(root, "a", "secret"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	evil := digest.Digest("sha256:../../../secret")
	raw := manifestOf(evil, len(secret), evil, len(secret))
	d := digest.FromBytes(raw)
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(storeDir, path), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("blobs/sha256/"+d.Encoded(), raw)
	rec := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d.String() + `"}`
	write("manifests/digest-sha256_"+d.Encoded()+".json", []byte(rec))
	write("manifests/tag-evil.json", []byte(`{"mediaType":"x","digest":"`+evil.String()+`"}`))
	if _, err := OCILayoutFromStore(s, stagedOf(raw), layout, "1", "", false); err == nil {
		t.Error("a manifest naming a path must fail the export")
	}
	if _, err := os.Stat(filepath.Join(root, "b", "secret")); err == nil {
		t.Error("a client file was linked outside the layout")
	}
	if s.HasBlob(evil) {
		t.Error("HasBlob answered for a path")
	}
	if raw, _, _, err := s.Manifest("evil"); err == nil {
		t.Errorf("a record naming a path was followed: %s", raw)
	}
	if _, err := os.Stat(filepath.Join(layout, "index.json")); err == nil {
		t.Error("the layout got an index")
	}
}

// A new run (a new BlobServer over the same directory) serves only the
// blobs and manifests that run brought in, though HEAD tells a node
// which blobs the store has, so it can skip them.
func TestBlobServerServesOnlyThisRunsContent(t *testing.T) {
	dir := t.TempDir()
	img := newTestImage("arm64")
	cfg, layer, man := digest.FromBytes(img.config), digest.FromBytes(img.layer), digest.FromBytes(img.manifest)
	first := serveStore(t, newStore(t, dir))
	first.push(img, "t1")
	for _, p := range []string{"/v2/farm/store/blobs/" + layer.String(), "/v2/farm/store/manifests/" + man.String(), "/v2/farm/store/manifests/t1"} {
		if code, _ := first.do(http.MethodGet, p, nil); code != http.StatusOK {
			t.Errorf("GET %s in the run that pushed it: %d", p, code)
		}
	}
	next := serveStore(t, newStore(t, dir))
	if code, _ := next.do(http.MethodHead, "/v2/farm/store/blobs/"+layer.String(), nil); code != http.StatusOK {
		t.Errorf("HEAD of a stored blob: %d", code)
	}
	for _, p := range []string{"/v2/farm/store/blobs/" + layer.String(), "/v2/farm/store/blobs/" + cfg.String(), "/v2/farm/store/blobs/" + man.String()} {
		if code, _ := next.do(http.MethodGet, p, nil); code != http.StatusNotFound {
			t.Errorf("GET %s of an earlier run: %d", p, code)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		for _, ref := range []string{"t1", man.String()} {
			if code, _ := next.do(m, "/v2/farm/store/manifests/"+ref, nil); code != http.StatusNotFound {
				t.Errorf("%s manifest %s of an earlier run: %d", m, ref, code)
			}
		}
	}
	// A mount makes the blob this run's; so does a manifest naming it.
	if code, _ := next.do(http.MethodPost, "/v2/farm/store/blobs/uploads/?mount="+layer.String()+"&from=other", nil); code != http.StatusCreated {
		t.Fatalf("mount: %d", code)
	}
	if code, body := next.do(http.MethodGet, "/v2/farm/store/blobs/"+layer.String(), nil); code != http.StatusOK || string(body) != string(img.layer) {
		t.Errorf("GET of a mounted blob: %d", code)
	}
	if code := next.putManifest("t2", img.manifest); code != http.StatusCreated {
		t.Fatalf("put: %d", code)
	}
	for _, p := range []string{"/v2/farm/store/blobs/" + cfg.String(), "/v2/farm/store/manifests/" + man.String(), "/v2/farm/store/manifests/t2"} {
		if code, _ := next.do(http.MethodGet, p, nil); code != http.StatusOK {
			t.Errorf("GET %s after this run put it: %d", p, code)
		}
	}
	if code, _ := next.do(http.MethodGet, "/v2/farm/store/manifests/t1", nil); code != http.StatusNotFound {
		t.Errorf("an earlier run's tag: %d", code)
	}
}

// The client reads any stored blob by digest, whichever run stored it,
// and never a path.
func TestBlobServerOpenBlob(t *testing.T) {
	dir := t.TempDir()
	img := newTestImage("arm64")
	serveStore(t, newStore(t, dir)).push(img, "t1")
	s := newStore(t, dir)
	type opener interface {
		OpenBlob(digest.Digest) (io.ReadCloser, int64, error)
	}
	o, ok := any(s).(opener)
	if !ok {
		t.Fatal("BlobServer has no OpenBlob")
	}
	rc, size, err := o.OpenBlob(digest.FromBytes(img.layer))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != string(img.layer) || size != int64(len(img.layer)) {
		t.Errorf("OpenBlob: %d bytes, size %d, %v", len(data), size, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rc, _, err := o.OpenBlob("sha256:../../secret"); err == nil {
		rc.Close()
		t.Error("OpenBlob opened a path")
	}
	cfg := digest.FromBytes(img.config)
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", cfg.Encoded()), []byte("rotten"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rc, _, err := o.OpenBlob(cfg); err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
		if err == nil {
			t.Error("a corrupt blob read without an error")
		}
	}
}

// A run's uploads, chunked or not, stop at its byte budget, and the
// refused upload leaves no file behind.
func TestBlobServerBudget(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	if s.Budget != 64<<30 {
		t.Errorf("default budget %d", s.Budget)
	}
	s.Budget = 100
	c := serveStore(t, s)
	if code := c.upload([]byte(strings.Repeat("a", 60))); code != http.StatusCreated {
		t.Fatalf("an upload within the budget: %d", code)
	}
	if code := c.upload([]byte(strings.Repeat("b", 60))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("an upload past the budget: %d", code)
	}
	if code, _ := c.do(http.MethodPatch, c.start(), []byte(strings.Repeat("c", 60))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a chunk past the budget: %d", code)
	}
	if code := c.putManifest("t", []byte(`{"schemaVersion":2,"pad":"`+strings.Repeat("d", 60)+`"}`)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a manifest past the budget: %d", code)
	}
	if code, _ := c.do(http.MethodHead, "/v2/farm/store/blobs/"+digest.FromString(strings.Repeat("b", 60)).String(), nil); code != http.StatusNotFound {
		t.Errorf("the refused blob was stored: %d", code)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "uploads")); len(entries) != 0 {
		t.Errorf("refused uploads left files: %d in uploads", len(entries))
	}
}

// Close removes the uploads of this run that were never finished, such
// as one whose connection dropped mid-chunk, and only those.
func TestBlobServerCloseRemovesAbandonedUploads(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	closer, ok := any(s).(io.Closer)
	if !ok {
		t.Fatal("BlobServer has no Close")
	}
	c := serveStore(t, s)
	other := filepath.Join(dir, "uploads", "upload-of-another-run")
	if err := os.WriteFile(other, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	loc := c.start()
	// A chunk whose connection drops halfway.
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n%s", loc, strings.Repeat("x", 1000))
	deadline := time.Now().Add(10 * time.Second)
	for partial := false; !partial; {
		if time.Now().After(deadline) {
			t.Fatal("the chunk never reached the upload file")
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "uploads"))
		for _, e := range entries {
			if info, err := e.Info(); err == nil && e.Name() != filepath.Base(other) && info.Size() == 1000 {
				partial = true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn.Close()
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "uploads"))
	if len(entries) != 1 || entries[0].Name() != filepath.Base(other) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("after Close, uploads holds %v; want only another run's upload", names)
	}
}

// A run keeps a bounded number of unfinished uploads, and none once it
// is over.
func TestBlobServerCapsUnfinishedUploads(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	c := serveStore(t, s)
	for range 1024 {
		c.start()
	}
	if code, _ := c.do(http.MethodPost, "/v2/farm/store/blobs/uploads/", nil); code != http.StatusTooManyRequests {
		t.Errorf("upload 1025: %d", code)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "uploads")); len(entries) != 1024 {
		t.Errorf("%d upload files", len(entries))
	}
	closer, ok := any(s).(io.Closer)
	if !ok {
		t.Fatal("BlobServer has no Close")
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if code := c.upload([]byte("late")); code != http.StatusTooManyRequests {
		t.Errorf("an upload after Close: %d", code)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "uploads")); len(entries) != 0 {
		t.Errorf("%d upload files after Close", len(entries))
	}
}

// A run that wants gzip layers (HideZstd) does not offer a node the zstd
// copy of a layer an earlier local delivery left, neither to HEAD nor to
// mount, so the node sends the layer again in gzip; a gzip layer and a
// config are offered, and a run without HideZstd offers everything.
func TestBlobServerHideZstd(t *testing.T) {
	dir := t.TempDir()
	zstdLayer := append([]byte{0x28, 0xb5, 0x2f, 0xfd}, []byte("a zstd frame")...)
	gzipLayer := append([]byte{0x1f, 0x8b, 0x08}, []byte("a gzip member")...)
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	earlier := newStore(t, dir)
	for _, b := range [][]byte{zstdLayer, gzipLayer, config} {
		if code := serveStore(t, earlier).upload(b); code != http.StatusCreated {
			t.Fatalf("upload: %d", code)
		}
	}
	if err := earlier.Close(); err != nil {
		t.Fatal(err)
	}
	for _, hide := range []bool{true, false} {
		s := newStore(t, dir)
		s.HideZstd = hide
		c := serveStore(t, s)
		for _, b := range [][]byte{zstdLayer, gzipLayer, config} {
			d := digest.FromBytes(b)
			want := http.StatusOK
			if hide && bytes.Equal(b, zstdLayer) {
				want = http.StatusNotFound
			}
			if code, _ := c.do(http.MethodHead, "/v2/farm/store/blobs/"+d.String(), nil); code != want {
				t.Errorf("HideZstd %v: HEAD of %q: %d, want %d", hide, b[4:], code, want)
			}
			mounted := http.StatusCreated
			if want == http.StatusNotFound {
				mounted = http.StatusAccepted // an upload starts instead
			}
			if code, _ := c.do(http.MethodPost, "/v2/farm/store/blobs/uploads/?mount="+d.String()+"&from=other/repo", nil); code != mounted {
				t.Errorf("HideZstd %v: mounting %q: %d, want %d", hide, b[4:], code, mounted)
			}
		}
		_ = s.Close()
	}
}
