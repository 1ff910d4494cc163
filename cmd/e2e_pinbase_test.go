//go:build e2e

package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/farmbuild/farm/records"
)

func TestE2EPinBase(t *testing.T) {
	buildFarmHome(t)
	base := theFarm.registry + "/base:latest"
	dir := writeContext(t, "FROM "+base+"\nRUN echo base-is-$(cat /marker 2>/dev/null || echo pristine)-$(uname -m)\n")
	// The node that builds amd64 gets a local copy of the base that differs
	// from the registry's.
	plan := mustCLI(t, "build", "--dry-run", "--platforms", "linux/amd64,linux/arm64", "-t", "p:1", dir)
	m := regexp.MustCompile(`(?m)^linux/amd64\s+p([12])\s`).FindStringSubmatch(plan)
	if m == nil {
		t.Fatalf("plan:\n%s", plan)
	}
	p1 := "unix://" + nodeSockets()[m[1][0]-'1']
	other := "unix://" + nodeSockets()[1-(m[1][0]-'1')]
	run(t, "podman", "--url", other, "pull", "-q", "--arch", "arm64", "--tls-verify=false", base) // it builds arm64
	stale := t.TempDir()
	if err := os.WriteFile(filepath.Join(stale, "Containerfile"), []byte("FROM base\nRUN echo stale > /marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "podman", "--url", p1, "build", "-q", "-t", base, stale)
	t.Cleanup(func() { _ = runQuiet("podman", "--url", p1, "rmi", "-f", base) })

	args := []string{"build", "--progress", "plain", "--no-cache", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest=" + filepath.Join(t.TempDir(), "o"), "-t", "p:1"}
	// Without pinning (and without pulling), each node builds from its own copy.
	_, errOut, err := farmCLI(t, append(append([]string{}, args...), "--pull=never", dir)...)
	if err != nil {
		t.Fatalf("unpinned build: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "base-is-stale-x86_64") || !strings.Contains(errOut, "base-is-pristine-aarch64") {
		t.Fatalf("unpinned, the nodes must build from their differing bases:\n%s", errOut)
	}
	// Pinned, both nodes build from the registry's digest.
	_, errOut, err = farmCLI(t, append(append([]string{}, args...), "--pin-base", "--tls-verify=false", dir)...)
	if err != nil {
		t.Fatalf("--pin-base: %v\n%s", err, errOut)
	}
	if strings.Contains(errOut, "base-is-stale") || !strings.Contains(errOut, "base-is-pristine-x86_64") || !strings.Contains(errOut, "base-is-pristine-aarch64") {
		t.Errorf("with --pin-base every node must build from the same base:\n%s", errOut)
	}
	// A second pinned build resolves the same digests.
	if _, errOut, err := farmCLI(t, append(append([]string{}, args...), "--pin-base", "--tls-verify=false", dir)...); err != nil {
		t.Fatalf("--pin-base again: %v\n%s", err, errOut)
	}

	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--format", "json")), &builds); err != nil || len(builds) != 3 {
		t.Fatalf("history: %v %+v", err, builds)
	}
	pinned := mustCLI(t, "inspect", builds[0].ID)
	var b records.BuildRecord
	if err := json.Unmarshal([]byte(pinned), &b); err != nil {
		t.Fatal(err)
	}
	raw := run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+base)
	for _, p := range b.Platforms {
		d := p.BaseDigests[base]
		if !strings.HasPrefix(d, "sha256:") || !strings.Contains(raw, d) {
			t.Errorf("%s: recorded base digest %q is not the registry's", p.Platform, d)
		}
	}
	cmp, _, err := farmCLI(t, "inspect", builds[0].ID, builds[2].ID)
	if err != nil || !strings.Contains(cmp, `"image": "`+base+`"`) || !strings.Contains(cmp, `"same": false`) {
		t.Errorf("comparing the bases of a pinned and an unpinned build: %v\n%s", err, cmp)
	}
	cmp, _, err = farmCLI(t, "inspect", builds[0].ID, builds[1].ID)
	if err != nil || !strings.Contains(cmp, `"same": true`) || strings.Contains(cmp, `"same": false`) {
		t.Errorf("two pinned builds from the same registry base are the same: %v\n%s", err, cmp)
	}
}
