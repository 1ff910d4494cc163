package manifest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// checkDigest accepts only a well-formed sha256 digest: the only kind the
// store and layouts hold, and the only kind that is safe to make a file
// name of. Digests come from nodes, which may be hostile.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %q: only sha256 is supported", d)
	}
	return nil
}

// blobPath is where the layout (or store) at dir keeps blob d.
func blobPath(dir string, d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	return filepath.Join(dir, "blobs", "sha256", d.Encoded()), nil
}

// syncFile flushes a file to disk. Tests replace it to see that every
// file is flushed before it is renamed into place.
var syncFile = func(f *os.File) error { return f.Sync() }

// commitFile flushes tmp (open for writing, in dest's directory or on its
// file system), closes it and renames it to dest, then flushes dest's
// directory: after a crash dest is either absent, as it was, or complete.
func commitFile(tmp *os.File, dest string) error {
	if err := syncFile(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("flushing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("storing %s: %w", dest, err)
	}
	syncDir(filepath.Dir(dest))
	return nil
}

// syncDir flushes a directory's entries, so that a rename or link in it
// survives a crash. It is best effort: some systems and file systems
// cannot flush a directory, and the file's content is flushed already.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// writeFileAtomic writes data to path through a flushed temporary file in
// the same directory, never in place.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // nothing left to remove once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return commitFile(tmp, path)
}

// verifyFile reads f from its start and checks that it is blob d of size
// bytes (size -1: any size). A content mismatch is errCorrupt.
func verifyFile(f *os.File, d digest.Digest, size int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	v := d.Verifier()
	n, err := io.Copy(v, f)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", d, err)
	}
	if !v.Verified() {
		return fmt.Errorf("blob %s: %w", d, errCorrupt)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("blob %s has %d bytes, its descriptor says size %d", d, n, size)
	}
	return nil
}
