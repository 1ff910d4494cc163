//go:build e2e

package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmbuild/farm/records"
)

// inspectOnly builds archContainerfile to an OCI layout with args and
// returns the build's record as farm inspect prints it.
func inspectOnly(t *testing.T, tag, baseShown string, args ...string) records.BuildRecord {
	t.Helper()
	dir := writeContext(t, archContainerfile)
	args = append(append([]string{"build", "--progress", "plain", "--output", "type=oci,dest=" + filepath.Join(t.TempDir(), "o"), "-t", tag}, args...), dir)
	if out, errOut, err := farmCLI(t, args...); err != nil {
		t.Fatalf("build: %v\n%s\n%s", err, out, errOut)
	}
	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--tag", tag, "--format", "json")), &builds); err != nil || len(builds) != 1 {
		t.Fatalf("history --tag %s: %v %+v", tag, err, builds)
	}
	var b records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "inspect", builds[0].ID)), &b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Index, "sha256:") {
		t.Errorf("no index digest: %+v", b)
	}
	table := mustCLI(t, "inspect", "--format", "table", b.ID)
	for _, want := range []string{b.Index, baseShown, tag} {
		if !strings.Contains(table, want) {
			t.Errorf("inspect table lacks %q:\n%s", want, table)
		}
	}
	return b
}

// farm inspect names the engine and version of the podman nodes that
// built each platform, native or emulated, and the digest of the base as
// each node held it, without --pin-base too.
func TestE2EInspectPodmanEnginesAndBases(t *testing.T) {
	buildFarmHome(t)
	b := inspectOnly(t, "insp:"+uniq(), "base sha256:", "--platforms", "linux/amd64,linux/arm64")
	if len(b.Platforms) != 2 {
		t.Fatalf("platforms: %+v", b.Platforms)
	}
	for _, p := range b.Platforms {
		if p.Engine != "podman" || p.EngineVersion == "" || !strings.HasPrefix(p.BaseDigests["base"], "sha256:") {
			t.Errorf("%s: engine %q %q, bases %v", p.Platform, p.Engine, p.EngineVersion, p.BaseDigests)
		}
	}
	if !b.Platforms[1].Emulated || b.Platforms[0].Emulated {
		t.Errorf("amd64 native and arm64 emulated: %+v", b.Platforms)
	}
}

// The same for a docker node.
func TestE2EInspectDockerEngine(t *testing.T) {
	dockerFarmHome(t)
	// The node's base was imported there, never pulled: docker knows no
	// digest for it.
	b := inspectOnly(t, "inspdk:"+uniq(), "base unknown", "--network", "host", "--platforms", "linux/amd64")
	if len(b.Platforms) != 1 || b.Platforms[0].Engine != "docker" || b.Platforms[0].EngineVersion == "" || b.Platforms[0].Emulated {
		t.Errorf("docker platform: %+v", b.Platforms)
	}
}
