package cmd

import (
	"os"
	"path/filepath"

	"github.com/farmbuild/farm/records"
)

// The directories farm keeps its own files in, following the XDG base
// directory specification. cmd decides them; the library takes them as
// arguments.

// stateDir holds the build records: $XDG_STATE_HOME/farm.
func stateDir() (string, error) { return xdgDir("XDG_STATE_HOME", ".local/state") }

// cacheDir holds the blob store: $XDG_CACHE_HOME/farm.
func cacheDir() (string, error) { return xdgDir("XDG_CACHE_HOME", ".cache") }

func xdgDir(env, fallback string) (string, error) {
	if d := os.Getenv(env); d != "" {
		return filepath.Join(d, "farm"), nil
	}
	home, err := os.UserHomeDir()
	return filepath.Join(home, fallback, "farm"), err
}

// openRecordsIn opens the build records in the state directory.
func openRecordsIn() (*records.Records, string, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, "", err
	}
	return records.Open(dir)
}
