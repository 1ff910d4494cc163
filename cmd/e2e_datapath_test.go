//go:build e2e

package cmd

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/farmbuild/farm/farm"
)

// fetchedBytes sums the bytes of the fetched events of a --progress json run.
func fetchedBytes(t *testing.T, out string) int64 {
	t.Helper()
	var n int64
	for sc := bufio.NewScanner(strings.NewReader(out)); sc.Scan(); {
		var e farm.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Phase == "fetched" {
			n += e.Bytes
		}
	}
	return n
}

func registryBytes(t *testing.T) int64 {
	t.Helper()
	out, err := exec.Command("du", "-sb", filepath.Join(theFarm.dir, "registry", "data")).Output()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	return n
}

// TestE2ERebuildMovesOnlyChangedLayers: over a 40 MiB unchanged base, a
// rebuild moves less than 8 MiB, into local storage and with --push.
func TestE2ERebuildMovesOnlyChangedLayers(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	base := t.TempDir()
	blob := make([]byte, 40<<20)
	_, _ = rand.Read(blob)
	if err := os.WriteFile(filepath.Join(base, "blob.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	baseName := "localhost/e2e-base-" + uniq()
	run(t, "sh", "-c", "printf 'FROM base\\nCOPY blob.bin /blob.bin\\n' > "+filepath.Join(base, "Containerfile"))
	run(t, "podman", "--url", "unix://"+nodeSockets()[0], "build", "-q", "-t", baseName, base)
	app := func() string { return writeContext(t, "FROM "+baseName+"\nRUN echo "+uniq()+" > /changed\n") }
	build := func(args ...string) string {
		t.Helper()
		out, errOut, err := farmCLI(t, append([]string{"build", "--progress", "json", "--platforms", "linux/amd64"}, args...)...)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, errOut)
		}
		return out
	}
	name := "localhost/e2e-rebuild:" + uniq()
	t.Cleanup(func() { _ = runQuiet("podman", "manifest", "rm", name+"-1", name+"-2") })
	if first := fetchedBytes(t, build("-t", name+"-1", app())); first < 40<<20 {
		t.Fatalf("the first build must bring the base: %d bytes", first)
	}
	if again := fetchedBytes(t, build("-t", name+"-2", app())); again <= 0 || again > 8<<20 {
		t.Errorf("a rebuild over an unchanged 40 MiB base moved %d bytes into local storage, want under 8 MiB", again)
	}
	repo := theFarm.registry + "/e2e-rebuild-" + uniq()
	build("--push", "--tls-verify=false", "-t", repo+":1", app())
	before := registryBytes(t)
	build("--push", "--tls-verify=false", "-t", repo+":2", app())
	if moved := registryBytes(t) - before; moved > 8<<20 {
		t.Errorf("a rebuild pushed %d bytes, want under 8 MiB", moved)
	}
}
