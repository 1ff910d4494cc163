//go:build e2e

package cmd

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/records"
)

// bigContext is a context whose image adds 10 MiB of random bytes, after
// a RUN step whose layer image is an intermediate one.
func bigContext(t *testing.T) string {
	t.Helper()
	dir := writeContext(t, "FROM base\nRUN echo "+uniq()+" > /id\nCOPY blob.bin /blob.bin\n")
	blob := make([]byte, 10<<20)
	_, _ = rand.Read(blob)
	if err := os.WriteFile(filepath.Join(dir, "blob.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func imageExists(sock, id string) bool {
	return exec.Command("podman", "--url", "unix://"+sock, "image", "exists", id).Run() == nil
}

func TestE2EPrune(t *testing.T) {
	buildFarmHome(t)
	socks := map[string]string{"p1": nodeSockets()[0], "p2": nodeSockets()[1]}
	unrelated := "localhost/unrelated-" + uniq()
	for _, sock := range socks {
		run(t, "podman", "--url", "unix://"+sock, "build", "-q", "-t", unrelated, bigContext(t))
	}
	t.Cleanup(func() {
		for _, sock := range socks {
			_ = runQuiet("podman", "--url", "unix://"+sock, "rmi", "-f", unrelated)
		}
	})
	// Two pushed builds: only the newest one's images are kept.
	mustCLI(t, "build", "--platforms", "linux/amd64", "--push", "--tls-verify=false", "-t", theFarm.registry+"/e2e-prune:old-"+uniq(), bigContext(t))
	ref := theFarm.registry + "/e2e-prune:" + uniq()
	mustCLI(t, "build", "--platforms", "linux/amd64", "--push", "--tls-verify=false", "-t", ref, bigContext(t))
	mustCLI(t, "build", "--platforms", "linux/amd64", "--output", "type=oci,dest="+filepath.Join(t.TempDir(), "o"), "-t", "x:1", bigContext(t))
	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--format", "json")), &builds); err != nil || len(builds) != 3 {
		t.Fatalf("history: %v", err)
	}
	image := func(b records.BuildRecord) (string, string, []string) {
		full := records.BuildRecord{}
		if err := json.Unmarshal([]byte(mustCLI(t, "inspect", b.ID)), &full); err != nil {
			t.Fatal(err)
		}
		return socks[full.Platforms[0].Node], full.Platforms[0].ImageID, full.Platforms[0].Intermediate
	}
	unpushedSock, unpushed, layers := image(builds[0])
	pushedSock, pushedID, pushedLayers := image(builds[1])
	oldSock, oldID, _ := image(builds[2])
	if len(layers) == 0 || len(pushedLayers) == 0 {
		t.Fatalf("the records must list the layer images the builds created: %v %v", layers, pushedLayers)
	}

	var dry struct{ Nodes []farm.NodePrune }
	if err := json.Unmarshal([]byte(mustCLI(t, "prune", "--dry-run", "--format", "json")), &dry); err != nil {
		t.Fatal(err)
	}
	if !imageExists(unpushedSock, unpushed) {
		t.Fatal("--dry-run removed an image")
	}
	var pruned struct {
		Nodes []farm.NodePrune
		Store struct {
			Bytes, FreedBytes int64
		}
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "prune", "--format", "json")), &pruned); err != nil {
		t.Fatal(err)
	}
	res := pruned.Nodes
	// The OCI build brought its 10 MiB layer into the client's store;
	// prune frees it.
	if pruned.Store.Bytes < 10<<20 || pruned.Store.FreedBytes != pruned.Store.Bytes {
		t.Errorf("prune must report and free the client's store: %+v", pruned.Store)
	}
	if imageExists(unpushedSock, unpushed) {
		t.Errorf("prune left the unpushed build's image %s", unpushed[:12])
	}
	if !imageExists(pushedSock, pushedID) {
		t.Errorf("prune removed the newest pushed build's image %s", pushedID[:12])
	}
	if imageExists(oldSock, oldID) {
		t.Errorf("prune kept an older pushed build's image %s: only the newest pushed build is kept", oldID[:12])
	}
	for _, l := range layers {
		if l != unpushed[:len(l)] && imageExists(unpushedSock, l) {
			t.Errorf("prune left the unpushed build's layer image %s", l)
		}
	}
	for _, l := range pushedLayers {
		if !imageExists(pushedSock, l) {
			t.Errorf("prune removed the pushed build's layer image %s", l)
		}
	}
	var freed int64
	for _, p := range res {
		freed += p.FreedBytes
	}
	if freed < 5<<20 {
		t.Errorf("prune freed %d bytes, want the 10 MiB image's space: %+v", freed, res)
	}
	for _, sock := range socks {
		for _, keep := range []string{unrelated, "localhost/base-amd64", "localhost/base"} {
			if !imageExists(sock, keep) {
				t.Errorf("prune removed %s, which farm did not build", keep)
			}
		}
	}
	if out := mustCLI(t, "prune"); regexpMatch(`(?m)^p[12]\s+[1-9]`, out) || !regexpMatch(`(?m)^p[12]\s+0\s+[1-9]`, out) {
		t.Errorf("a second prune removes nothing and keeps the pushed build's images:\n%s", out)
	}
}

// The client's store keeps to its bound: after a build, the least
// recently used blobs beyond FARM_STORE_MAX go.
func TestE2EStoreKeepsItsBound(t *testing.T) {
	buildFarmHome(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("FARM_STORE_MAX", "4MiB")
	dest := filepath.Join(t.TempDir(), "o")
	mustCLI(t, "build", "--platforms", "linux/amd64", "--output", "type=oci,dest="+dest, "-t", "x:1", bigContext(t))
	var size int64
	_ = filepath.Walk(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "farm", "store", "blobs"), func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			size += info.Size()
		}
		return nil
	})
	if size > 4<<20 {
		t.Errorf("the store holds %d bytes after the build, over its 4 MiB bound", size)
	}
	// The layout does not depend on the store.
	l := ociLayout{t: t, dir: dest}
	if got := platformsOf(l.index("1")); got != "linux/amd64" {
		t.Errorf("layout: %s", got)
	}
}
