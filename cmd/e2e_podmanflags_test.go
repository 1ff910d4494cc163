//go:build e2e

package cmd

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestE2EPodmanBuildFlags runs podman's build flags on real engines: what
// podman 5 honours lands in the image, and what an engine cannot honour
// is refused before anything is built.
func TestE2EPodmanBuildFlags(t *testing.T) {
	t.Run("podman5-honours", e2ePodman5Honours)
	t.Run("podman5-named-network", e2ePodman5NamedNetwork)
	t.Run("podman4-refuses-by-version", e2ePodman4Refuses)
	t.Run("docker28-refuses", e2eDockerRefuses)
	t.Run("docker28-honours", e2eDockerHonours)
	t.Run("creds", e2eCreds)
}

// flagsContainerfile records what the RUN step saw.
const flagsContainerfile = `RUN cat /etc/hosts > /hosts; ulimit -n > /nofile; df -k /dev/shm | tail -1 | awk '{print $2}' > /shm; \
    (cat /etc/resolv.conf > /resolv || true); (test -f /node-etc/hostname && echo mounted > /vol || echo none > /vol); \
    echo "E=$FARM_E" > /env
`

func e2ePodman5Honours(t *testing.T) {
	e := coreEngines()[0] // podman5
	engineHome(t, e)
	dir := writeContext(t, registryContainerfile()+flagsContainerfile+"ENV E2E_RUN="+uniq()+"\n")
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--platform", "linux/amd64", "--output", "type=oci,dest="+dest, "-t", "f:1",
		"--add-host", "db.farm:10.9.8.7", "--ulimit", "nofile=1234:1234", "--shm-size", "70m",
		"--dns", "10.9.8.53", "--dns-search", "farm.example", "-v", "/etc:/node-etc:ro",
		"--env", "FARM_E=from-flag", "--identity-label=false", "--timestamp", "1600000000", "--squash-all", "--tls-verify=false", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s\n%s", err, out, errOut)
	}
	l := ociLayout{t: t, dir: dest}
	idx := l.index("1")
	for path, want := range map[string]string{
		"hosts": "10.9.8.7\tdb.farm", "nofile": "1234", "shm": "71680", "resolv": "nameserver 10.9.8.53",
		"vol": "mounted", "env": "E=from-flag",
	} {
		if got := l.file(idx, "amd64", path); !strings.Contains(got, want) {
			t.Errorf("/%s = %q, want %q in it", path, got, want)
		}
	}
	if got := l.file(idx, "amd64", "resolv"); !strings.Contains(got, "farm.example") {
		t.Errorf("--dns-search: %q", got)
	}
	cfg, layers := imageConfig(t, l, idx, "amd64")
	if !slices.Contains(cfg.Config.Env, "FARM_E=from-flag") {
		t.Errorf("--env: %v", cfg.Config.Env)
	}
	if _, ok := cfg.Config.Labels["io.buildah.version"]; ok {
		t.Errorf("--identity-label=false: %v", cfg.Config.Labels)
	}
	if cfg.Created == nil || cfg.Created.Unix() != 1600000000 {
		t.Errorf("--timestamp: created %v", cfg.Created)
	}
	if layers != 1 {
		t.Errorf("--squash-all: %d layers", layers)
	}
}

// imageConfig returns the config and the number of layers of arch's
// image.
func imageConfig(t *testing.T, l ociLayout, idx ocispec.Index, arch string) (ocispec.Image, int) {
	t.Helper()
	for _, m := range idx.Manifests {
		if m.Platform.Architecture != arch {
			continue
		}
		var man ocispec.Manifest
		var cfg ocispec.Image
		if err := json.Unmarshal(l.blob(m.Digest.String()), &man); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(l.blob(man.Config.Digest.String()), &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg, len(man.Layers)
	}
	t.Fatalf("no %s image", arch)
	return ocispec.Image{}, 0
}

// A network of the node, by name, is the RUN steps' network.
func e2ePodman5NamedNetwork(t *testing.T) {
	e := coreEngines()[0]
	engineHome(t, e)
	name := "farm-e2e-" + uniq()
	run(t, "podman", "--url", "unix://"+e.sock(), "network", "create", name)
	t.Cleanup(func() { _ = runQuiet("podman", "--url", "unix://"+e.sock(), "network", "rm", "-f", name) })
	dir := writeContext(t, registryContainerfile()+"ENV E2E_RUN="+uniq()+"\n")
	if out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64", "--network", name, "--tls-verify=false",
		"--output", "type=oci,dest="+filepath.Join(t.TempDir(), "o"), "-t", "n:1", dir); err != nil {
		t.Fatalf("--network %s: %v\n%s\n%s", name, err, out, errOut)
	}
}

// podman 4.3.1's API ignores --volume: refused, naming the node and the
// version, before any build.
func e2ePodman4Refuses(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	mustCLI(t, "create", "old", "p1")
	dir := writeContext(t, archContainerfile)
	_, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64", "-v", "/etc:/node-etc:ro", "-t", "v:1", dir)
	if msg := OneLine(err); ExitCode(err) != exitUsage || !strings.Contains(msg, "--volume: podman node p1 runs podman 4.3.1") {
		t.Errorf("exit %d: %q", ExitCode(err), msg)
	}
	if strings.Contains(errOut, "STEP") {
		t.Errorf("nothing may be built:\n%s", errOut)
	}
}

func e2eDockerRefuses(t *testing.T) {
	e := coreEngines()[1] // docker28
	engineHome(t, e)
	dir := writeContext(t, registryContainerfile())
	for flag, want := range map[string][]string{
		"--squash: docker node docker28 cannot squash: drop it or build on podman nodes": {"--squash"},
		"--memory: docker node docker28 builds with BuildKit, which ignores --memory":    {"--memory", "1g"},
		"--volume: docker node docker28 cannot bind-mount into RUN steps":                {"-v", "/etc:/x"},
	} {
		_, errOut, err := farmCLI(t, append(append([]string{"build", "--network", "host", "--platforms", "linux/amd64", "-t", "d:1"}, want...), dir)...)
		if msg := OneLine(err); ExitCode(err) != exitUsage || !strings.Contains(msg, flag) {
			t.Errorf("%v: exit %d: %q", want, ExitCode(err), msg)
		}
		if strings.Contains(errOut, "Build ") {
			t.Errorf("%v: a refused flag must not start a build:\n%s", want, errOut)
		}
	}
}

func e2eDockerHonours(t *testing.T) {
	e := coreEngines()[1]
	engineHome(t, e)
	dir := writeContext(t, registryContainerfile()+flagsContainerfile+"ENV E2E_RUN="+uniq()+"\n")
	dest := filepath.Join(t.TempDir(), "layout")
	if out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64", "--output", "type=oci,dest="+dest,
		"-t", "h:1", "--add-host", "db.farm:10.9.8.7", "--ulimit", "nofile=1234:1234", "--shm-size", "70m", dir); err != nil {
		t.Fatalf("build: %v\n%s\n%s", err, out, errOut)
	}
	l := ociLayout{t: t, dir: dest}
	idx := l.index("1")
	for path, want := range map[string]string{"hosts": "db.farm", "nofile": "1234", "shm": "71680"} {
		if got := l.file(idx, "amd64", path); !strings.Contains(got, want) {
			t.Errorf("/%s = %q, want %q in it", path, got, want)
		}
	}
}

// --creds is the credential for the FROM registry: a base that needs a
// login builds with it, and without it the node cannot pull.
func e2eCreds(t *testing.T) {
	e := coreEngines()[0]
	engineHome(t, e)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // no stored login
	base := theFarm.authRegistry + "/e2e-creds-base-" + uniq() + ":1"
	run(t, "skopeo", "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
		"--dest-creds", theFarm.authUser+":"+theFarm.authPassword, "docker://"+theFarm.registry+"/base", "docker://"+base)
	dir := writeContext(t, "FROM "+base+"\nRUN echo built > /built\n")
	args := []string{"build", "--platforms", "linux/amd64", "--tls-verify=false", "--output", "type=oci,dest=" + filepath.Join(t.TempDir(), "o"), "-t", "c:1"}
	if _, _, err := farmCLI(t, append(append([]string{}, args...), dir)...); err == nil {
		t.Error("without a login the node must not pull the base")
	}
	if out, errOut, err := farmCLI(t, append(append([]string{}, args...), "--creds", theFarm.authUser+":"+theFarm.authPassword, dir)...); err != nil {
		t.Fatalf("--creds: %v\n%s\n%s", err, out, errOut)
	}
}
