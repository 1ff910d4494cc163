package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/opencontainers/go-digest"
)

// maxManifest is the largest manifest the store takes.
const maxManifest = 4 << 20

// manifestRecord is how a manifest is kept: its bytes are a blob, its
// media type and tags are here.
type manifestRecord struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// tagRe is what a tag may be (the distribution spec's rule).
var tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// recordFile is where a tag's or a digest's record is kept; tags and
// digests live apart, so a tag can never pose as a digest.
func (s *BlobServer) recordFile(ref string) (string, error) {
	if d := digest.Digest(ref); checkDigest(d) == nil {
		return filepath.Join(s.dir, "manifests", "digest-sha256_"+d.Encoded()+".json"), nil
	}
	if !tagRe.MatchString(ref) {
		return "", fmt.Errorf("%q is neither a tag nor a sha256 digest", ref)
	}
	return filepath.Join(s.dir, "manifests", "tag-"+ref+".json"), nil
}

// Manifest returns a pushed manifest by tag or digest, whichever run
// pushed it; a tag this run pushed names what this run pushed.
func (s *BlobServer) Manifest(ref string) ([]byte, string, digest.Digest, error) {
	s.mu.Lock()
	rec, ok := s.manifests[ref]
	s.mu.Unlock()
	if !ok {
		path, err := s.recordFile(ref)
		if err != nil {
			return nil, "", "", err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, "", "", fmt.Errorf("reading manifest %s: %w", ref, err)
		}
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, "", "", fmt.Errorf("reading the record of manifest %s: %w", ref, err)
		}
	}
	d := digest.Digest(rec.Digest)
	raw, err := s.readBlob(d, maxManifest)
	if err != nil {
		return nil, "", "", fmt.Errorf("reading manifest %s: %w", ref, err)
	}
	return raw, rec.MediaType, d, nil
}

// readBlob reads a store blob of at most limit bytes, checking its
// digest; a blob that does not match it is removed from the store.
func (s *BlobServer) readBlob(d digest.Digest, limit int64) ([]byte, error) {
	path, err := s.blobFile(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	switch {
	case err != nil:
		return nil, err
	case int64(len(data)) > limit:
		return nil, fmt.Errorf("blob %s is larger than %d bytes", d, limit)
	case digest.FromBytes(data) != d:
		dropCorrupt(path, fi)
		return nil, fmt.Errorf("store blob %s: %w", d, errCorrupt)
	}
	return data, nil
}

// getManifest answers for the manifests put in this run only.
func (s *BlobServer) getManifest(w http.ResponseWriter, r *http.Request, ref string) {
	s.mu.Lock()
	_, ours := s.manifests[ref]
	s.mu.Unlock()
	if !ours {
		registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", ref)
		return
	}
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

// manifestBlobs returns the blobs a manifest names (an image manifest's
// config and layers), checking every digest it names, an index's too.
func manifestBlobs(raw []byte) ([]digest.Digest, error) {
	var m struct {
		Config *struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"layers"`
		Manifests []struct {
			Digest digest.Digest `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var blobs []digest.Digest
	if m.Config != nil {
		blobs = append(blobs, m.Config.Digest)
	}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	for _, d := range blobs {
		if err := checkDigest(d); err != nil {
			return nil, err
		}
	}
	for _, c := range m.Manifests {
		if err := checkDigest(c.Digest); err != nil {
			return nil, err
		}
	}
	return blobs, nil
}

func (s *BlobServer) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	if _, err := s.recordFile(ref); err != nil {
		registryError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
	if err != nil {
		registryError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	if len(raw) > maxManifest {
		registryError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than 4 MiB")
		return
	}
	if err := s.take(int64(len(raw))); err != nil {
		registryError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", err.Error())
		return
	}
	d := digest.FromBytes(raw)
	if want := digest.Digest(ref); want.Validate() == nil && want != d {
		registryError(w, http.StatusBadRequest, "DIGEST_INVALID", "the manifest does not match "+ref)
		return
	}
	blobs, err := manifestBlobs(raw)
	if err != nil {
		registryError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	if err := s.storeManifest(ref, d, raw, r.Header.Get("Content-Type")); err != nil {
		status, code := http.StatusInternalServerError, "UNKNOWN"
		if errors.Is(err, errClosed) {
			status, code = http.StatusTooManyRequests, "TOOMANYREQUESTS"
		}
		registryError(w, status, code, err.Error())
		return
	}
	s.known(append(blobs, d)...)
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+string(d))
	w.Header().Set("Docker-Content-Digest", string(d))
	w.WriteHeader(http.StatusCreated)
}

// errClosed is a manifest put after Close.
var errClosed = errors.New("the run is over")

// storeManifest keeps raw (whose digest is d) as a blob, records it under
// ref and d, and makes both this run's.
func (s *BlobServer) storeManifest(ref string, d digest.Digest, raw []byte, mediaType string) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errClosed
	}
	recPath, err := s.recordFile(ref)
	if err != nil {
		return err
	}
	blob, err := s.blobFile(d)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(blob, raw, 0o644); err != nil {
		return err
	}
	rec := manifestRecord{MediaType: mediaType, Digest: string(d)}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	paths := []string{recPath}
	if dPath, _ := s.recordFile(string(d)); dPath != recPath {
		paths = append(paths, dPath)
	}
	for _, path := range paths {
		if err := writeFileAtomic(path, data, 0o644); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.manifests[ref] = rec
	s.manifests[string(d)] = rec
	s.mu.Unlock()
	return nil
}
