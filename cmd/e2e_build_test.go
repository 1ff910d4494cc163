//go:build e2e

package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// checkArchs asserts that the index holds linux/amd64 and linux/arm64 and
// that each image's RUN step really ran on that architecture (arm64 under
// emulation).
func checkArchs(t *testing.T, l ociLayout, ref string) {
	t.Helper()
	idx := l.index(ref)
	if got := platformsOf(idx); got != "linux/amd64,linux/arm64" {
		t.Errorf("index platforms = %s", got)
	}
	if got := l.file(idx, "amd64", "arch"); got != "x86_64\n" {
		t.Errorf("amd64 image's RUN ran on %q", got)
	}
	if got := l.file(idx, "arm64", "arch"); got != "aarch64\n" {
		t.Errorf("arm64 image's RUN ran on %q (it must run under emulation)", got)
	}
}

func TestE2EBuildLocalList(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, archContainerfile)
	name := "localhost/farm-e2e-local:" + uniq()
	t.Cleanup(func() { _ = runQuiet("podman", "manifest", "rm", name) })
	out, errOut, err := farmCLI(t, "build", "--no-cache", "--platforms", "linux/amd64,linux/arm64", "-t", name, dir)
	if err != nil {
		t.Fatalf("build: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "built-on-aarch64") || !regexp.MustCompile(`\[linux/arm64@p[12]\] `).MatchString(errOut) {
		t.Errorf("build output must be prefixed [platform@node] and show the emulated RUN:\n%s", errOut)
	}
	// The user sees only the names they gave: no name of farm's store.
	if names := run(t, "podman", "images", "--format", "{{.Repository}}"); strings.Contains(names, "/farm/store") {
		t.Errorf("local storage shows farm's store names:\n%s", names)
	}
	// The user's own podman pushes the list right after.
	ref := theFarm.registry + "/e2e-local:" + uniq()
	run(t, "podman", "manifest", "push", "--all", "--tls-verify=false", name, "docker://"+ref)
	checkArchs(t, pullToLayout(t, ref), "t")
}

func runQuiet(name string, args ...string) error {
	return execCommand(name, args...).Run()
}

func TestE2EBuildPushTagged(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, archContainerfile)
	tag := uniq()
	ref := theFarm.registry + "/e2e-push:" + tag
	iid := filepath.Join(t.TempDir(), "iid")
	out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/arm64", "--push", "--tls-verify=false",
		"-t", ref, "-t", theFarm.registry+"/e2e-push:latest-"+tag, "--iidfile", iid, dir)
	if err != nil {
		t.Fatalf("build --push: %v\n%s\n%s", err, out, errOut)
	}
	checkArchs(t, pullToLayout(t, ref), "t")
	digest, _ := os.ReadFile(iid)
	raw := run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+theFarm.registry+"/e2e-push:latest-"+tag)
	if got := sha256Hex(raw); "sha256:"+got != string(digest) {
		t.Errorf("--iidfile %s does not match the pushed index sha256:%s", digest, got)
	}
	if !strings.Contains(out, string(digest)) {
		t.Errorf("summary lacks the index digest:\n%s", out)
	}
}

func TestE2EBuildOCILayout(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, archContainerfile)
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "example/app:1.2", dir)
	if err != nil {
		t.Fatalf("build --output: %v\n%s\n%s", err, out, errOut)
	}
	checkArchs(t, ociLayout{t: t, dir: dest}, "1.2")
	// skopeo reads it back, per platform.
	raw := run(t, "skopeo", "inspect", "--raw", "oci:"+dest+":1.2")
	if !strings.Contains(raw, `"architecture":"arm64"`) || !strings.Contains(raw, `"architecture":"amd64"`) {
		t.Errorf("skopeo reads %s", raw)
	}
	if arch := run(t, "skopeo", "inspect", "--override-arch", "arm64", "--format", "{{.Architecture}}", "oci:"+dest+":1.2"); strings.TrimSpace(arch) != "arm64" {
		t.Errorf("skopeo picks %q for arm64", arch)
	}
}

func TestE2EBuildThreePlatformsTwoNodes(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, "FROM scratch\nCOPY hello.txt /hello.txt\n")
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/arm64,linux/arm/v7", "--output", "type=oci,dest="+dest, "-t", "three:1", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s\n%s", err, out, errOut)
	}
	l := ociLayout{t: t, dir: dest}
	idx := l.index("1")
	if got := platformsOf(idx); got != "linux/amd64,linux/arm/v7,linux/arm64" {
		t.Errorf("three platforms on two nodes: index has %s", got)
	}
	// Both nodes were used, and one of them built two platforms: none lost.
	if !strings.Contains(out, " p1 ") || !strings.Contains(out, " p2 ") {
		t.Errorf("both nodes should build:\n%s", out)
	}
	for _, arch := range []string{"amd64", "arm64", "arm"} {
		if got := l.file(idx, arch, "hello.txt"); got != "hello\n" {
			t.Errorf("%s image content %q", arch, got)
		}
	}
}

func TestE2EBuildArm64V8OnNativeNode(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	addNode(t, "arm", theFarm.arm64)
	dir := writeContext(t, "FROM scratch\nCOPY hello.txt /hello.txt\n")
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/arm64/v8", "--output", "type=oci,dest="+dest, "-t", "v8:1", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s\n%s", err, out, errOut)
	}
	if !regexp.MustCompile(`linux/arm64\s+arm\s+native`).MatchString(out) {
		t.Errorf("linux/arm64/v8 must go natively to the node reporting arm64:\n%s", out)
	}
	if got := platformsOf(ociLayout{t: t, dir: dest}.index("1")); got != "linux/amd64,linux/arm64" {
		t.Errorf("index = %s", got)
	}
}

func TestE2EBuildUnservablePlatform(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, archContainerfile)
	_, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/sparc64", "-t", "x:1", dir)
	if ExitCode(err) != exitInfra {
		t.Fatalf("exit %d (%v), want %d", ExitCode(err), err, exitInfra)
	}
	msg := OneLine(err)
	for _, want := range []string{"no node can build linux/sparc64", "p1: linux/amd64", "linux/arm64 (emulated)", "p2: linux/amd64"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(errOut, "STEP") {
		t.Errorf("nothing may be built when a platform cannot be served:\n%s", errOut)
	}
}

func TestE2EBuildFailsOnOnePlatform(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, "FROM base\nRUN test \"$(uname -m)\" = x86_64 || { echo \"not on x86: $(uname -m)\"; exit 3; }\n")
	repo := "e2e-fail-" + uniq()
	out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/arm64", "--push", "--tls-verify=false", "--keep-going", "-t", theFarm.registry+"/"+repo+":1", dir)
	if ExitCode(err) != exitFailure {
		t.Fatalf("exit %d (%v), want %d", ExitCode(err), err, exitFailure)
	}
	msg := OneLine(err)
	if !regexp.MustCompile(`building linux/arm64 on p[12]: step 2/\d+: RUN test`).MatchString(msg) || strings.Contains(msg, "linux/amd64") {
		t.Errorf("the error must name the failing platform, node and step only: %s", msg)
	}
	if !strings.Contains(errOut, "not on x86: aarch64") {
		t.Errorf("the failing step's output must be shown:\n%s", errOut)
	}
	if !regexp.MustCompile(`linux/arm64\s+p[12]\s+emulated\s+FAILED`).MatchString(out) {
		t.Errorf("summary:\n%s", out)
	}
	if tags := registryTags(t, repo); tags != "" {
		t.Errorf("nothing may be pushed when a platform failed, registry has: %s", tags)
	}
}

func TestE2EBuildUsageErrors(t *testing.T) {
	buildFarmHome(t)
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "-t", "x", empty}, "no Containerfile or Dockerfile"},
		{[]string{"build", "-t", "x", "/nonexistent"}, "is not a directory"},
		{[]string{"build", writeContext(t, archContainerfile)}, "name the result with -t"},
		{[]string{"build", "--platforms", "linux/amd46", "-t", "x", empty}, `unknown architecture "amd46"`},
		{[]string{"build", "--output", "type=tar", "-t", "x", empty}, "type=oci,dest=DIR"},
		{[]string{"build", "--push", "--output", "type=oci,dest=/tmp/x", "-t", "x", empty}, "give one"},
		{[]string{"build", "--farm", "nope", "-t", "x", empty}, `farm "nope": not found`},
	} {
		if msg := wantExit(t, exitUsage, tc.args...); !strings.Contains(msg, tc.want) {
			t.Errorf("farm %s: %q lacks %q", strings.Join(tc.args, " "), msg, tc.want)
		}
	}
}
