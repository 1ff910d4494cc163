package cmd

import (
	"os"
	"path/filepath"

	units "github.com/docker/go-units"

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

// defaultStoreMax bounds the client's blob store unless FARM_STORE_MAX
// says otherwise.
const defaultStoreMax = 10 << 30

// storeMax is the blob store's bound: FARM_STORE_MAX (a size such as
// 20GiB; 0 for no bound), else 10 GiB.
func storeMax(ro *rootOptions) int64 {
	v := os.Getenv("FARM_STORE_MAX")
	if v == "" {
		return defaultStoreMax
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n < 0 {
		ro.logger.Warn("FARM_STORE_MAX is not a size such as 20GiB: the store keeps its 10 GiB bound", "value", v)
		return defaultStoreMax
	}
	return n
}
