package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// BlobServer is a minimal registry (the parts of the OCI distribution API
// that pushing and pulling use) over an on-disk, content-addressed store.
// Nodes push their images to it over a reverse SSH forward; the registry
// protocol lets them skip every blob the store already has, so a rebuild
// over an unchanged base moves only the changed layers. The local engine
// pulls from it, skipping the layers it already has.
//
// One BlobServer serves one run. Over HTTP it answers HEAD for every blob
// in the store, but GET only for the blobs this run brought in (uploaded,
// mounted, or named by a manifest put in this run), and manifests only if
// put in this run: the store outlives runs and nodes are shared. What it
// takes in is capped by Budget. Close it at the end of the run.
type BlobServer struct {
	// Budget is the most bytes of blobs and manifests this run takes in:
	// the upload that goes past it is refused and its file removed, and so
	// is every later one. NewBlobServer sets DefaultBudget. Set it before
	// serving.
	Budget int64
	// HideZstd has HEAD and cross-repository mounts take a zstd blob for
	// absent, so that a node asked for gzip layers sends them again
	// instead of reusing the zstd copy a local delivery left (podman
	// before 4.7 reuses a layer in any format). Set it before serving.
	HideZstd bool

	dir string

	mu        sync.Mutex
	uploads   map[string]*upload        // by upload ID
	blobs     map[digest.Digest]bool    // blobs this run may serve
	checked   map[digest.Digest]bool    // blobs this run received and checked
	used      map[digest.Digest]bool    // blobs a node found present (HEAD)
	lock      *os.File                  // shared lock: the store is in use
	manifests map[string]manifestRecord // tags and digests put this run
	received  int64                     // bytes of blobs and manifests taken in
	closed    bool
}

// DefaultBudget is the Budget of a new BlobServer: 64 GiB.
const DefaultBudget = 64 << 30

// staleUpload is the age after which an upload's temporary file is taken
// for the leftover of a run that was killed, and removed.
const staleUpload = 24 * time.Hour

// errCorrupt is a stored file whose content does not match its digest.
var errCorrupt = errors.New("content does not match its digest")

// NewBlobServer serves the store in dir (created if needed). Uploads and
// temporary files left over from runs that were killed are swept away.
func NewBlobServer(dir string) (*BlobServer, error) {
	for _, d := range []string{"blobs/sha256", "uploads", "manifests"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("creating the blob store: %w", err)
		}
	}
	sweep(filepath.Join(dir, "uploads"), "")
	sweep(filepath.Join(dir, "blobs", "sha256"), ".tmp-")
	sweep(filepath.Join(dir, "manifests"), ".tmp-")
	lock, err := lockStore(dir, false)
	if err != nil {
		return nil, err
	}
	return &BlobServer{Budget: DefaultBudget, dir: dir, uploads: map[string]*upload{}, blobs: map[digest.Digest]bool{}, checked: map[digest.Digest]bool{},
		used: map[digest.Digest]bool{}, manifests: map[string]manifestRecord{}, lock: lock}, nil
}

// sweep removes the day-old files in dir whose names start with prefix.
func sweep(dir, prefix string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleUpload {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Received returns how many bytes of blobs and manifests were pushed in.
func (s *BlobServer) Received() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// Close removes the uploads this run started and never finished (their
// connection dropped, say) and refuses new ones. Call it at the end of the
// run.
func (s *BlobServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	// What this run used is the store's most recently used.
	now := time.Now()
	for _, set := range []map[digest.Digest]bool{s.blobs, s.used} {
		for d := range set {
			if path, err := s.blobFile(d); err == nil {
				_ = os.Chtimes(path, now, now)
			}
		}
	}
	if s.lock != nil {
		s.lock.Close()
	}
	for id, u := range s.uploads {
		if err := os.Remove(u.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing an unfinished upload: %w", err))
		}
		delete(s.uploads, id)
	}
	return errors.Join(errs...)
}

var (
	blobPathRe     = regexp.MustCompile(`^/v2/(.+)/blobs/(sha256:[a-f0-9]{64})$`)
	uploadStartRe  = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/?$`)
	uploadRe       = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/([a-f0-9]{32})$`)
	manifestPathRe = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)
)

// ServeHTTP implements the registry API.
func (s *BlobServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	p := r.URL.Path
	switch m := (struct{ blob, start, upload, manifest []string }{blobPathRe.FindStringSubmatch(p), uploadStartRe.FindStringSubmatch(p), uploadRe.FindStringSubmatch(p), manifestPathRe.FindStringSubmatch(p)}); {
	case p == "/v2/" || p == "/v2":
		w.WriteHeader(http.StatusOK)
	case m.blob != nil && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		s.getBlob(w, r, digest.Digest(m.blob[2]))
	case m.start != nil && r.Method == http.MethodPost:
		s.startUpload(w, r, m.start[1])
	case m.upload != nil && r.Method == http.MethodPatch:
		s.appendUpload(w, r, m.upload[1], m.upload[2])
	case m.upload != nil && r.Method == http.MethodPut:
		s.finishUpload(w, r, m.upload[1], m.upload[2])
	case m.manifest != nil && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		s.getManifest(w, r, m.manifest[2])
	case m.manifest != nil && r.Method == http.MethodPut:
		s.putManifest(w, r, m.manifest[1], m.manifest[2])
	default:
		registryError(w, http.StatusNotFound, "UNSUPPORTED", r.Method+" "+p)
	}
}

func registryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// blobFile is where the store keeps blob d; d must be a sha256 digest.
func (s *BlobServer) blobFile(d digest.Digest) (string, error) {
	return blobPath(s.dir, d)
}

// HasBlob reports whether the store holds d.
func (s *BlobServer) HasBlob(d digest.Digest) bool {
	path, err := s.blobFile(d)
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}

// offers reports whether a node may reuse blob d: the store has it and
// does not hide it.
func (s *BlobServer) offers(d digest.Digest) bool {
	path, err := s.blobFile(d)
	return err == nil && s.HasBlob(d) && !s.hidden(path)
}

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// hidden reports whether the blob at path is to be taken for absent:
// zstd data while HideZstd is set.
func (s *BlobServer) hidden(path string) bool {
	if !s.HideZstd {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len(zstdMagic))
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, zstdMagic)
}

// known marks blobs as this run's, to be served.
func (s *BlobServer) known(ds ...digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range ds {
		s.blobs[d] = true
	}
}

// verified marks d as received and checked in this run (and this run's,
// to be served): its file need not be read again to be trusted.
func (s *BlobServer) verified(d digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[d] = true
	s.checked[d] = true
}

// checkedThisRun reports whether d was received and checked in this run.
func (s *BlobServer) checkedThisRun(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checked[d]
}

// dropCorrupt removes the store's file at path, found not to match its
// digest, unless it was replaced since it was opened (as fi).
func dropCorrupt(path string, fi os.FileInfo) {
	if now, err := os.Stat(path); err == nil && os.SameFile(now, fi) {
		_ = os.Remove(path)
	}
}

// OpenBlob opens blob d of the store for reading, whichever run stored it,
// and returns its size. Reading it to the end fails if the content does
// not match d (the blob is then removed from the store).
func (s *BlobServer) OpenBlob(d digest.Digest) (io.ReadCloser, int64, error) {
	path, err := s.blobFile(d)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("opening blob %s: %w", d, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("opening blob %s: %w", d, err)
	}
	return &verifyingReader{f: f, fi: fi, path: path, d: d, v: d.Verifier()}, fi.Size(), nil
}

// verifyingReader reads a store blob and fails at its end if the content
// does not match the digest.
type verifyingReader struct {
	f    *os.File
	fi   os.FileInfo
	path string
	d    digest.Digest
	v    digest.Verifier
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	_, _ = r.v.Write(p[:n])
	if errors.Is(err, io.EOF) && !r.v.Verified() {
		dropCorrupt(r.path, r.fi)
		return n, fmt.Errorf("store blob %s: %w", r.d, errCorrupt)
	}
	return n, err
}

func (r *verifyingReader) Close() error { return r.f.Close() }

// getBlob answers HEAD for every blob in the store, and GET for this
// run's blobs only.
func (s *BlobServer) getBlob(w http.ResponseWriter, r *http.Request, d digest.Digest) {
	s.mu.Lock()
	ours := s.blobs[d]
	s.mu.Unlock()
	path, err := s.blobFile(d)
	if err != nil || (r.Method == http.MethodGet && !ours) || (r.Method == http.MethodHead && s.hidden(path)) {
		registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", string(d))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", string(d))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		registryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.Header().Set("Docker-Content-Digest", string(d))
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.Method == http.MethodHead {
		s.mu.Lock()
		s.used[d] = true
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
}
