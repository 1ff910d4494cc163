package podman

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestServiceDirIsPrivate checks that the transient service's socket
// directory and log are the user's alone, whatever the umask.
func TestServiceDirIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir, logFile, err := serviceDir()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	defer logFile.Close()
	for path, want := range map[string]os.FileMode{dir: os.ModeDir | 0o700, filepath.Join(dir, "service.log"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}
