package cmd

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
)

// recordingEngine is a fake engine that keeps the requests it gets, and
// the auth file each carried, and logs one line per platform.
type recordingEngine struct {
	fakeEngine
	mu       sync.Mutex
	requests []engine.NodeBuild
	auths    []string
	// refuse, when set, is what the engine says it cannot honour.
	refuse []engine.Refusal
}

func (r *recordingEngine) Build(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	r.mu.Lock()
	r.requests = append(r.requests, req)
	data, _ := os.ReadFile(req.AuthFile)
	r.auths = append(r.auths, string(data))
	r.mu.Unlock()
	for _, p := range req.Platforms {
		req.Log(&p, "STEP 1/1: the build's own output line")
	}
	return r.fakeEngine.Build(ctx, req)
}

func (r *recordingEngine) Unsupported(_ engine.EngineInfo, in engine.Instructions) []engine.Refusal {
	var out []engine.Refusal
	for _, f := range in.Flags() {
		for _, x := range r.refuse {
			if x.Flag == f {
				out = append(out, x)
			}
		}
	}
	return out
}

// recordingFarm is one amd64 node, amd1, of a recording engine, and a
// context whose Containerfile is from.
func recordingFarm(t *testing.T, from string) (*recordingEngine, engine.Opener, string) {
	t.Helper()
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", from)
	e := &recordingEngine{fakeEngine: fakeEngine{native: ocispec.Platform{OS: "linux", Architecture: "amd64"}}}
	return e, func(context.Context, engine.Link) (engine.Builder, error) { return e, nil }, dir
}

// build runs farm build on the recording farm, into an OCI layout (which
// the fake's images fail: the requests are what the tests look at).
func (r *recordingEngine) build(t *testing.T, open engine.Opener, dir string, args ...string) (string, string, error) {
	t.Helper()
	args = append(append([]string{"build", "--progress", "plain", "--output", "type=oci,dest=" + t.TempDir() + "/o", "-t", "x:1"}, args...), dir)
	return farmCLIWith(t, open, args...)
}

// podman's and buildx's --platform is --platforms, comma lists and all,
// repeatable and mixed.
func TestPlatformIsAnAliasOfPlatforms(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	mustCLI(t, "connection", "add", "arm1", "unix:///nonexistent/arm1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	for _, args := range [][]string{
		{"--platform", "linux/amd64,linux/arm64"},
		{"--platform", "linux/amd64", "--platform", "linux/arm64"},
		{"--platforms", "linux/amd64", "--platform=linux/arm64"},
	} {
		out, errOut, err := farmCLIWith(t, fakeOpener, append(append([]string{"build", "--dry-run", "-t", "x:1"}, args...), dir)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errOut)
		}
		if !strings.Contains(out, "linux/amd64  amd1") || !strings.Contains(out, "linux/arm64  arm1") {
			t.Errorf("%v: the plan lacks a platform:\n%s", args, out)
		}
	}
}

// An unknown flag names the nearest one, and is a usage error.
func TestUnknownFlagSuggestsTheNearest(t *testing.T) {
	isolate(t)
	for flag, want := range map[string]string{
		"--platfrom": "unknown flag --platfrom: did you mean --platform?",
		"--no-cahce": "unknown flag --no-cahce: did you mean --no-cache?",
		"--squahs":   "unknown flag --squahs: did you mean --squash?",
		"--sign-by":  "unknown flag --sign-by: see farm build --help",
	} {
		if msg := wantExit(t, exitUsage, "build", flag, "x", "."); msg != want {
			t.Errorf("%s: %q, want %q", flag, msg, want)
		}
	}
}

// Every podman build flag farm takes reaches the engine's request.
func TestPodmansBuildFlagsReachTheEngine(t *testing.T) {
	e, open, dir := recordingFarm(t, "FROM scratch\n")
	t.Setenv("FARM_TEST_FROM_ENV", "from-env")
	_, errOut, _ := e.build(t, open, dir,
		"--rm=false", "--force-rm=false", "--shm-size", "128m", "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=64",
		"-m", "1g", "--memory-swap", "-1", "--cpu-shares", "512", "--cpu-quota", "50000", "--cpu-period", "100000",
		"--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--cgroup-parent", "farm.slice",
		"--cache-from", "registry.example/cache", "--cache-to", "registry.example/cache", "--add-host", "db:10.0.0.1",
		"--network", "buildnet", "--layers=false", "--squash-all", "--env", "A=1", "--env", "FARM_TEST_FROM_ENV",
		"--unsetenv", "PATH", "-v", "/srv/data:/data:ro", "--security-opt", "label=disable", "--cap-add", "SYS_ADMIN",
		"--cap-drop", "NET_RAW", "--dns", "10.0.0.53", "--dns-option", "ndots:1", "--dns-search", "example.com",
		"--build-context", "base=docker-image://registry.example/base:1", "--retry", "5", "--retry-delay", "3s",
		"--source-date-epoch", "1700000000", "--timestamp", "1600000000", "--identity-label=false", "--jobs", "1", "-q")
	if len(e.requests) != 1 {
		t.Fatalf("no build reached the engine: %s", errOut)
	}
	in := e.requests[0].Instructions
	sde, ts := time.Unix(1700000000, 0).UTC(), time.Unix(1600000000, 0).UTC()
	for name, ok := range map[string]bool{
		"--rm=false":             in.KeepContainers && in.KeepFailedContainers,
		"--shm-size":             in.ShmSize == 128<<20,
		"--ulimit":               strings.Join(in.Ulimits, " ") == "nofile=1024:2048 nproc=64",
		"--memory":               in.Memory == 1<<30 && in.MemorySwap == -1,
		"--cpu-*":                in.CPUShares == 512 && in.CPUQuota == 50000 && in.CPUPeriod == 100000 && in.CPUSetCPUs == "0-1" && in.CPUSetMems == "0",
		"--cgroup-parent":        in.CgroupParent == "farm.slice",
		"--cache-from/to":        len(in.CacheFrom) == 1 && len(in.CacheTo) == 1 && in.CacheTo[0] == "registry.example/cache",
		"--add-host":             len(in.AddHosts) == 1 && in.AddHosts[0] == "db:10.0.0.1",
		"--network NAME":         in.Network == "buildnet",
		"--layers=false":         in.Layers != nil && !*in.Layers,
		"--squash-all":           in.SquashAll && !in.Squash,
		"--env":                  strings.Join(in.Env, " ") == "A=1 FARM_TEST_FROM_ENV=from-env",
		"--unsetenv":             len(in.UnsetEnv) == 1 && in.UnsetEnv[0] == "PATH",
		"--volume":               len(in.Volumes) == 1 && in.Volumes[0] == "/srv/data:/data:ro",
		"--security-opt":         len(in.SecurityOpts) == 1 && in.SecurityOpts[0] == "label=disable",
		"--cap-add/drop":         len(in.CapAdd) == 1 && in.CapAdd[0] == "SYS_ADMIN" && len(in.CapDrop) == 1 && in.CapDrop[0] == "NET_RAW",
		"--dns*":                 len(in.DNSServers) == 1 && len(in.DNSOptions) == 1 && in.DNSSearch[0] == "example.com",
		"--build-context":        in.BuildContexts["base"] == "docker-image://registry.example/base:1",
		"--retry":                in.Retry != nil && *in.Retry == 5 && in.RetryDelay == 3*time.Second,
		"--source-date-epoch":    in.SourceDateEpoch != nil && in.SourceDateEpoch.Equal(sde),
		"--timestamp":            in.Timestamp != nil && in.Timestamp.Equal(ts),
		"--identity-label=false": in.IdentityLabel != nil && !*in.IdentityLabel,
	} {
		if !ok {
			t.Errorf("%s did not reach the engine as given: %+v", name, in)
		}
	}
	if strings.Contains(errOut, "the build's own output line") {
		t.Errorf("-q printed build output:\n%s", errOut)
	}
}

// Without the flags, the request says nothing of them: the engine's and
// farm's defaults hold.
func TestPodmansBuildFlagsDefaultToNothing(t *testing.T) {
	e, open, dir := recordingFarm(t, "FROM scratch\n")
	_, errOut, _ := e.build(t, open, dir)
	if len(e.requests) != 1 {
		t.Fatalf("no build reached the engine: %s", errOut)
	}
	if flags := e.requests[0].Flags(); len(flags) != 0 {
		t.Errorf("a build without flags uses %v", flags)
	}
	if !strings.Contains(errOut, "the build's own output line") {
		t.Errorf("without -q the build's output is printed:\n%s", errOut)
	}
}

// What farm cannot do safely, or what makes no sense on a remote node, is
// refused before any node is contacted, in one line.
func TestPodmanFlagsFarmRefuses(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cert-dir", "/etc/certs"}, "--cert-dir /etc/certs: registries are reached by the nodes"},
		{[]string{"--jobs", "4"}, "--jobs 4: farm builds one stage at a time on each node"},
		{[]string{"--build-context", "src=./src"}, "--build-context src: ./src is a local directory, which farm does not send to the nodes"},
		{[]string{"--build-context", "nothing"}, "use NAME=docker-image://REF or NAME=URL"},
		{[]string{"--env", "*"}, "whole environment"},
		{[]string{"--squash", "--squash-all"}, "give one"},
		{[]string{"-v", "data:/data"}, "absolute path on the node"},
		{[]string{"--security-opt", "no-new-privileges"}, "use label=, apparmor= or seccomp="},
		{[]string{"--memory", "lots"}, `--memory "lots": give a size`},
		{[]string{"--shm-size", "0"}, `--shm-size "0": give a size`},
		{[]string{"--ulimit", "nofile"}, "TYPE=SOFT[:HARD]"},
		{[]string{"--add-host", "db"}, "HOST:IP"},
		{[]string{"--cache-from", "registry.example/cache:tag"}, "without tag or digest"},
		{[]string{"--network", "none", "--dns", "1.1.1.1"}, "need a network"},
		{[]string{"--network", "ns:/proc/1/ns/net"}, "name of a network on the node"},
		{[]string{"--retry-delay", "soon"}, "give a duration"},
		{[]string{"--source-date-epoch", "yesterday"}, "seconds since the epoch"},
		{[]string{"--cpu-quota", "-1"}, "positive number"},
		{[]string{"--creds", "user"}, "--creds: use USER:PASSWORD"},
	} {
		msg := wantExit(t, exitUsage, append(append([]string{"build", "-t", "x:1"}, tc.args...), dir)...)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%v: %q lacks %q", tc.args, msg, tc.want)
		}
	}
}

// A flag an engine says it cannot honour stops the build before it
// starts, naming the flag and the node; nothing is built.
func TestAFlagANodeCannotHonourIsRefusedBeforeBuilding(t *testing.T) {
	e, open, dir := recordingFarm(t, "FROM scratch\n")
	e.refuse = []engine.Refusal{{Flag: "--squash", Why: "cannot squash", Fix: "drop it or build on podman nodes"}}
	_, _, err := e.build(t, open, dir, "--squash")
	if ExitCode(err) != exitUsage || !strings.HasSuffix(OneLine(err), "--squash: fake node amd1 cannot squash: drop it or build on podman nodes") {
		t.Errorf("exit %d: %v", ExitCode(err), err)
	}
	if len(e.requests) != 0 {
		t.Errorf("a refused flag must stop the build before it starts: %d builds", len(e.requests))
	}
	if _, _, err := e.build(t, open, dir, "--squash-all"); ExitCode(err) == exitUsage || len(e.requests) != 1 {
		t.Errorf("a flag the engine honours builds: %v", err)
	}
}

// --creds becomes the credential of the FROM lines' registries, and only
// theirs, in the auth file the node gets.
func TestCredsAreTheFromRegistrysCredential(t *testing.T) {
	e, open, dir := recordingFarm(t, "FROM registry.example/base:1\n")
	if _, errOut, _ := e.build(t, open, dir, "--creds", "me:s3cret"); len(e.auths) != 1 {
		t.Fatalf("no build: %s", errOut)
	}
	want := `"registry.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("me:s3cret")) + `"}`
	if !strings.Contains(e.auths[0], want) {
		t.Errorf("the node's auth file %s lacks %s", e.auths[0], want)
	}
}

// The help groups farm build's flags as podman's does, and every flag is
// in a group.
func TestBuildHelpGroupsTheFlags(t *testing.T) {
	isolate(t)
	out := mustCLI(t, "build", "--help")
	last := -1
	for _, g := range flagGroups {
		i := strings.Index(out, "\n"+g.title+":\n")
		if i < last {
			t.Errorf("group %q missing or out of order:\n%s", g.title, out)
		}
		last = i
	}
	other := out[strings.Index(out, "Other flags:"):]
	if other = other[:strings.Index(other, "Global flags:")]; strings.Count(other, "--") != 1 || !strings.Contains(other, "--help") {
		t.Errorf("flags without a group:\n%s", other)
	}
}
