package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// ErrStoreBusy means a running build uses the store, so nothing of it is
// removed now.
var ErrStoreBusy = errors.New("a running build uses the store")

// lockStore takes the store's lock: shared while a run uses the store,
// exclusive (and without waiting) to prune it.
func lockStore(dir string, exclusive bool) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "store.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking the blob store: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX | syscall.LOCK_NB
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrStoreBusy
		}
		return nil, fmt.Errorf("locking the blob store: %w", err)
	}
	return f, nil
}

// StoreUsage is what a store prune saw and did.
type StoreUsage struct {
	// Bytes is the blobs' size before, Freed what was removed.
	Bytes, Freed int64
	// Blobs counts the blobs before, Removed those removed.
	Blobs, Removed int
}

// PruneStore shrinks the blob store in dir to at most max bytes, removing
// the least recently used blobs first (a run marks what it used when it
// ends), and the manifest records whose manifest went with them. It
// removes nothing while a run uses the store (ErrStoreBusy); max 0
// empties it.
func PruneStore(dir string, max int64) (StoreUsage, error) {
	var u StoreUsage
	blobsDir := filepath.Join(dir, "blobs", "sha256")
	if _, err := os.Stat(blobsDir); errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	lock, err := lockStore(dir, true)
	if err != nil {
		return u, err
	}
	defer lock.Close()
	entries, err := os.ReadDir(blobsDir)
	if err != nil {
		return u, err
	}
	type blob struct {
		name string
		size int64
		used int64
	}
	var blobs []blob
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		blobs = append(blobs, blob{e.Name(), info.Size(), info.ModTime().UnixNano()})
		u.Bytes += info.Size()
	}
	u.Blobs = len(blobs)
	sort.Slice(blobs, func(i, j int) bool { return blobs[i].used < blobs[j].used })
	left := u.Bytes
	for _, b := range blobs {
		if left <= max {
			break
		}
		if err := os.Remove(filepath.Join(blobsDir, b.name)); err != nil {
			return u, err
		}
		left -= b.size
		u.Freed += b.size
		u.Removed++
	}
	return u, dropDanglingRecords(dir)
}

// dropDanglingRecords removes the manifest records whose manifest is no
// longer in the store.
func dropDanglingRecords(dir string) error {
	recDir := filepath.Join(dir, "manifests")
	entries, err := os.ReadDir(recDir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		path := filepath.Join(recDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var rec manifestRecord
		if json.Unmarshal(data, &rec) != nil {
			continue
		}
		_, hex, ok := strings.Cut(rec.Digest, ":")
		if !ok || hex == "" || strings.ContainsAny(hex, "/.") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", hex)); errors.Is(err, os.ErrNotExist) {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// StoreSize measures the blob store in dir without changing it.
func StoreSize(dir string) (StoreUsage, error) {
	var u StoreUsage
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return u, err
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && !strings.HasPrefix(e.Name(), ".tmp-") {
			u.Bytes += info.Size()
			u.Blobs++
		}
	}
	return u, nil
}
