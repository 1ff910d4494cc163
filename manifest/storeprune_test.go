package manifest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// putBlob writes a blob straight into the store, last used at used.
func putBlob(t *testing.T, dir, content string, used time.Time) digest.Digest {
	t.Helper()
	d := digest.FromString(content)
	path := filepath.Join(dir, "blobs", "sha256", d.Encoded())
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, used, used); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPruneStoreKeepsWhatWasUsedLast(t *testing.T) {
	dir := t.TempDir()
	s, err := NewBlobServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	a := putBlob(t, dir, "aaaaaaaaaa", old)                  // 10 bytes, oldest
	b := putBlob(t, dir, "bbbbbbbbbb", old.Add(time.Hour))   // 10 bytes
	c := putBlob(t, dir, "cccccccccc", old.Add(2*time.Hour)) // 10 bytes
	rec := []byte(`{"mediaType":"x","digest":"` + a.String() + `"}`)
	if err := os.WriteFile(filepath.Join(dir, "manifests", "tag-x.json"), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	// A run in progress: nothing is removed.
	if _, err := PruneStore(dir, 0); !errors.Is(err, ErrStoreBusy) {
		t.Fatalf("PruneStore during a run = %v, want ErrStoreBusy", err)
	}
	// The run's node found a present (HEAD): it was used last.
	srv := httptest.NewServer(s)
	resp, err := http.Head(srv.URL + "/v2/farm/store/blobs/" + a.String())
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %v %v", err, resp)
	}
	srv.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	u, err := PruneStore(dir, 15)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes != 30 || u.Freed != 20 || u.Removed != 2 {
		t.Errorf("usage = %+v, want 30 bytes, 2 removed, 20 freed", u)
	}
	for d, want := range map[digest.Digest]bool{a: true, b: false, c: false} {
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Encoded())); (err == nil) != want {
			t.Errorf("blob %s kept = %v, want %v", d.Encoded()[:8], err == nil, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "manifests", "tag-x.json")); err != nil {
		t.Errorf("the record of a kept manifest must stay: %v", err)
	}
	// Emptying it takes the record of the manifest that went.
	if u, err := PruneStore(dir, 0); err != nil || u.Removed != 1 {
		t.Errorf("PruneStore(0) = %+v, %v", u, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifests", "tag-x.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a record whose manifest is gone must go: %v", err)
	}
}
