package manifest

import (
	"crypto/rand"
	"encoding/hex"
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
type BlobServer struct {
	dir string

	mu      sync.Mutex
	uploads map[string]string // upload ID -> temporary file
	// Received counts the bytes of blobs and manifests received.
	received int64
}

// staleUpload is the age after which an upload's temporary file is taken
// for the leftover of a run that was killed, and removed.
const staleUpload = 24 * time.Hour

// NewBlobServer serves the store in dir (created if needed). Uploads
// left over from runs that were killed are swept away.
func NewBlobServer(dir string) (*BlobServer, error) {
	for _, d := range []string{"blobs/sha256", "uploads", "manifests"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "uploads")); err == nil {
		for _, e := range entries {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleUpload {
				_ = os.Remove(filepath.Join(dir, "uploads", e.Name()))
			}
		}
	}
	return &BlobServer{dir: dir, uploads: map[string]string{}}, nil
}

// Received returns how many bytes of blobs and manifests were pushed in.
func (s *BlobServer) Received() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
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

func (s *BlobServer) blobFile(d digest.Digest) string {
	return filepath.Join(s.dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// HasBlob reports whether the store holds d.
func (s *BlobServer) HasBlob(d digest.Digest) bool {
	_, err := os.Stat(s.blobFile(d))
	return err == nil
}

func (s *BlobServer) getBlob(w http.ResponseWriter, r *http.Request, d digest.Digest) {
	f, err := os.Open(s.blobFile(d))
	if err != nil {
		registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", string(d))
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	w.Header().Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.Header().Set("Docker-Content-Digest", string(d))
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
}

func newUploadID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *BlobServer) startUpload(w http.ResponseWriter, r *http.Request, name string) {
	// A cross-repository mount of a blob the store has succeeds at once.
	if mount := r.URL.Query().Get("mount"); mount != "" {
		if d, err := digest.Parse(mount); err == nil && s.HasBlob(d) {
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
	s.uploads[id] = f.Name()
	s.mu.Unlock()
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

// appendTo adds the request body to an upload and returns its size.
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
	n, err := io.Copy(f, r.Body)
	s.mu.Lock()
	s.received += n
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (s *BlobServer) appendUpload(w http.ResponseWriter, r *http.Request, name, id string) {
	size, err := s.appendTo(r, id)
	if err != nil {
		registryError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", err.Error())
		return
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
	w.WriteHeader(http.StatusAccepted)
}

func (s *BlobServer) finishUpload(w http.ResponseWriter, r *http.Request, name, id string) {
	d, err := digest.Parse(r.URL.Query().Get("digest"))
	if err != nil {
		registryError(w, http.StatusBadRequest, "DIGEST_INVALID", "missing or bad digest")
		return
	}
	if _, err := s.appendTo(r, id); err != nil {
		registryError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", err.Error())
		return
	}
	s.mu.Lock()
	path := s.uploads[id]
	delete(s.uploads, id)
	s.mu.Unlock()
	defer os.Remove(path)
	if err := verifyAndStore(path, d, s.blobFile(d)); err != nil {
		registryError(w, http.StatusBadRequest, "DIGEST_INVALID", err.Error())
		return
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+string(d))
	w.Header().Set("Docker-Content-Digest", string(d))
	w.WriteHeader(http.StatusCreated)
}

// verifyAndStore checks that the file at path has digest d and moves it
// to dest.
func verifyAndStore(path string, d digest.Digest, dest string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	v := d.Verifier()
	_, err = io.Copy(v, f)
	f.Close()
	if err != nil {
		return err
	}
	if !v.Verified() {
		return errors.New("content does not match the digest " + string(d))
	}
	return os.Rename(path, dest)
}

// manifestRecord is how a manifest is kept: its bytes are a blob, its
// media type and tags are here.
type manifestRecord struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// recordFile is where a tag's or a digest's record is kept; tags and
// digests live apart, so a tag can never pose as a digest.
func (s *BlobServer) recordFile(ref string) string {
	kind := "tag-"
	if _, err := digest.Parse(ref); err == nil {
		kind = "digest-"
	}
	return filepath.Join(s.dir, "manifests", kind+strings.NewReplacer(":", "_", "/", "_").Replace(ref)+".json")
}

// Manifest returns a pushed manifest by tag or digest.
func (s *BlobServer) Manifest(ref string) ([]byte, string, digest.Digest, error) {
	data, err := os.ReadFile(s.recordFile(ref))
	if err != nil {
		return nil, "", "", err
	}
	var rec manifestRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, "", "", err
	}
	d := digest.Digest(rec.Digest)
	raw, err := os.ReadFile(s.blobFile(d))
	return raw, rec.MediaType, d, err
}

func (s *BlobServer) getManifest(w http.ResponseWriter, r *http.Request, ref string) {
	raw, mt, d, err := s.Manifest(ref)
	if err != nil {
		registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", ref)
		return
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Docker-Content-Digest", string(d))
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(raw)
	}
}

func (s *BlobServer) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	const limit = 4 << 20
	raw, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		registryError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	if len(raw) > limit {
		registryError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than 4 MiB")
		return
	}
	s.mu.Lock()
	s.received += int64(len(raw))
	s.mu.Unlock()
	d := digest.FromBytes(raw)
	if want, err := digest.Parse(ref); err == nil && want != d {
		registryError(w, http.StatusBadRequest, "DIGEST_INVALID", "the manifest does not match "+ref)
		return
	}
	if err := os.WriteFile(s.blobFile(d), raw, 0o644); err != nil {
		registryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	rec, _ := json.Marshal(manifestRecord{MediaType: r.Header.Get("Content-Type"), Digest: string(d)})
	for _, key := range []string{ref, string(d)} {
		if err := os.WriteFile(s.recordFile(key), rec, 0o644); err != nil {
			registryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
			return
		}
	}
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+string(d))
	w.Header().Set("Docker-Content-Digest", string(d))
	w.WriteHeader(http.StatusCreated)
}
