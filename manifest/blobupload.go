package manifest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

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
		if d := digest.Digest(mount); checkDigest(d) == nil && s.HasBlob(d) {
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
		s.uploads[id] = f.Name()
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

// appendTo adds the request body to an upload and returns its size. An
// upload past the budget is dropped.
func (s *BlobServer) appendTo(r *http.Request, id string) (int64, error) {
	s.mu.Lock()
	path, ok := s.uploads[id]
	s.mu.Unlock()
	if !ok {
		return 0, fs.ErrNotExist
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := io.Copy(f, budgetReader{s: s, r: r.Body}); err != nil {
		if errors.Is(err, errBudget) {
			s.drop(id)
		}
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// drop forgets an upload and removes its file.
func (s *BlobServer) drop(id string) {
	s.mu.Lock()
	path, ok := s.uploads[id]
	delete(s.uploads, id)
	s.mu.Unlock()
	if ok {
		_ = os.Remove(path)
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
	path, ok := s.uploads[id]
	delete(s.uploads, id)
	s.mu.Unlock()
	if !ok {
		registryError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", id)
		return
	}
	defer os.Remove(path) // nothing left to remove once stored
	if err := verifyAndStore(path, d, dest); err != nil {
		registryError(w, http.StatusBadRequest, "DIGEST_INVALID", err.Error())
		return
	}
	s.known(d)
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+string(d))
	w.Header().Set("Docker-Content-Digest", string(d))
	w.WriteHeader(http.StatusCreated)
}

// verifyAndStore checks that the file at path has digest d, flushes it
// and moves it to dest.
func verifyAndStore(path string, d digest.Digest, dest string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := verifyFile(f, d, -1); err != nil {
		f.Close()
		return err
	}
	return commitFile(f, dest)
}
