package manifest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
)

// maxUploads bounds the uploads of a run that are started and not yet
// finished: each is a file in the store until the run ends.
const maxUploads = 1024

// errBudget is an upload past the run's Budget.
var errBudget = errors.New("the blob store's budget for this run is spent")

// take counts n bytes taken in against the budget.
func (s *BlobServer) take(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received += n
	if s.received > s.Budget {
		return fmt.Errorf("%w (%d bytes)", errBudget, s.Budget)
	}
	return nil
}

// budgetReader reads r, counting what it reads against the budget.
type budgetReader struct {
	s *BlobServer
	r io.Reader
}

func (b budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		if berr := b.s.take(int64(n)); berr != nil {
			return 0, berr
		}
	}
	return n, err
}

func newUploadID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *BlobServer) startUpload(w http.ResponseWriter, r *http.Request, name string) {
	// A cross-repository mount of a blob the store has succeeds at once,
	// and makes the blob this run's.
	if mount := r.URL.Query().Get("mount"); mount != "" {
		if d := digest.Digest(mount); s.offers(d) {
			s.known(d)
			w.Header().Set("Location", "/v2/"+name+"/blobs/"+string(d))
			w.Header().Set("Docker-Content-Digest", string(d))
			w.WriteHeader(http.StatusCreated)
			return
		}
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, "uploads"), "upload-")
	if err != nil {
		registryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	f.Close()
	id := newUploadID()
	s.mu.Lock()
	refused := ""
	switch {
	case s.closed:
		refused = "the run is over"
	case len(s.uploads) >= maxUploads:
		refused = "too many unfinished uploads"
	default:
		s.uploads[id] = &upload{path: f.Name(), hash: digest.SHA256.Hash()}
	}
	s.mu.Unlock()
	if refused != "" {
		_ = os.Remove(f.Name())
		registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", refused)
		return
	}
	// A monolithic upload carries the digest and the body in the POST.
	if d := r.URL.Query().Get("digest"); d != "" {
		s.finishUpload(w, r, name, id)
		return
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", "0-0")
	w.WriteHeader(http.StatusAccepted)
}

// upload is an upload in progress: its file, and the digest and size of
// what it received so far, computed as the bytes arrive so that finishing
// it does not read the file again.
type upload struct {
	path string
	mu   sync.Mutex // one request at a time appends
	hash hash.Hash
	size int64
	// done is set, under mu, once the upload is finished: a request
	// still waiting to append finds it gone, so the stored file is
	// exactly what its digest was checked on.
	done bool
}

// appendTo adds the request body to an upload and returns its size. An
// upload whose body fails (past the budget, or cut off) is dropped: what
// it holds is no longer known.
func (s *BlobServer) appendTo(r *http.Request, id string) (int64, error) {
	s.mu.Lock()
	u, ok := s.uploads[id]
	s.mu.Unlock()
	if !ok {
		return 0, fs.ErrNotExist
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return 0, fs.ErrNotExist
	}
	f, err := os.OpenFile(u.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.Copy(io.MultiWriter(newWriteback(f, u.size), u.hash), budgetReader{s: s, r: r.Body})
	u.size += n
	if err != nil {
		s.drop(id)
		return 0, err
	}
	return u.size, nil
}

// drop forgets an upload and removes its file.
func (s *BlobServer) drop(id string) {
	s.mu.Lock()
	u, ok := s.uploads[id]
	delete(s.uploads, id)
	s.mu.Unlock()
	if ok {
		_ = os.Remove(u.path)
	}
}

// uploadError answers an upload that failed in appendTo.
func uploadError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errBudget):
		registryError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", err.Error())
	case errors.Is(err, fs.ErrNotExist):
		registryError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", err.Error())
	default:
		registryError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", err.Error())
	}
}

func (s *BlobServer) appendUpload(w http.ResponseWriter, r *http.Request, name, id string) {
	size, err := s.appendTo(r, id)
	if err != nil {
		uploadError(w, err)
		return
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	w.WriteHeader(http.StatusAccepted)
}

func (s *BlobServer) finishUpload(w http.ResponseWriter, r *http.Request, name, id string) {
	d := digest.Digest(r.URL.Query().Get("digest"))
	dest, err := s.blobFile(d)
	if err != nil {
		s.drop(id)
		registryError(w, http.StatusBadRequest, "DIGEST_INVALID", "missing or bad digest")
		return
	}
	if _, err := s.appendTo(r, id); err != nil {
		uploadError(w, err)
		return
	}
	s.mu.Lock()
	u, ok := s.uploads[id]
	delete(s.uploads, id)
	s.mu.Unlock()
	if !ok {
		registryError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", id)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.done = true
	defer os.Remove(u.path) // nothing left to remove once stored
	if got := digest.NewDigest(digest.SHA256, u.hash); got != d {
		registryError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("the upload is %s, not %s", got, d))
		return
	}
	if err := storeUpload(u.path, dest); err != nil {
		registryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	s.verified(d)
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+string(d))
	w.Header().Set("Docker-Content-Digest", string(d))
	w.WriteHeader(http.StatusCreated)
}

// storeUpload flushes the upload at path, whose digest was checked as it
// arrived, and moves it to dest.
func storeUpload(path, dest string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return commitFile(f, dest)
}
