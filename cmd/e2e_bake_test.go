//go:build e2e

package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bakeStemHCL has a variable, inherits, a group and a target:
// dependency: app starts FROM stem's result, per platform.
const bakeStemHCL = `
variable "TAG" { default = "dev" }
group "default" { targets = ["app"] }
target "_common" { platforms = ["linux/amd64", "linux/arm64"] }
target "stem" {
  inherits = ["_common"]
  dockerfile-inline = "FROM base\nARG N\nRUN echo stem-$N-$(uname -m) > /stem.txt\n"
  args = { N = "${TAG}" }
}
target "app" {
  inherits = ["_common"]
  contexts = { stem = "target:stem" }
  dockerfile-inline = "FROM stem\nRUN uname -m > /arch\n"
  tags = ["example/app:${TAG}"]
}`

// The dependent's arm64 image holds its base's file, and both RUN steps
// ran as aarch64 (emulated, on the podman nodes).
func TestE2EBakeTargetDependency(t *testing.T) {
	buildFarmHome(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), bakeStemHCL)
	t.Chdir(dir)
	tag := uniq()
	t.Setenv("TAG", tag)
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "bake", "--progress", "plain", "--output", "type=oci,dest="+dest)
	if err != nil {
		t.Fatalf("bake: %v\n%s\n%s", err, out, errOut)
	}
	l := ociLayout{t: t, dir: dest}
	idx := l.index(tag)
	if got := platformsOf(idx); got != "linux/amd64,linux/arm64" {
		t.Errorf("index platforms = %s", got)
	}
	for arch, uname := range map[string]string{"amd64": "x86_64", "arm64": "aarch64"} {
		if got := l.file(idx, arch, "arch"); got != uname+"\n" {
			t.Errorf("%s image's RUN ran on %q", arch, got)
		}
		if got := l.file(idx, arch, "stem.txt"); got != "stem-"+tag+"-"+uname+"\n" {
			t.Errorf("%s image holds stem.txt %q, not its base's for %s", arch, got, arch)
		}
	}
	// Both targets recorded under the run's ID.
	id := strings.Fields(errOut)[1]
	if logs := mustCLI(t, "logs", id, "--target", "stem"); !strings.Contains(logs, "stem") {
		t.Errorf("farm logs %s --target stem:\n%s", id, logs)
	}
}

// A JSON file naming one target builds only it; a compose file builds its
// services with image: as the tag.
func TestE2EBakeJSONAndCompose(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, "FROM base\nCOPY hello.txt /hello.txt\n")
	writeFile(t, filepath.Join(dir, "bake.json"), `{"target": {
  "one": {"context": ".", "platforms": ["linux/amd64"], "tags": ["example/one:1"]},
  "two": {"context": ".", "dockerfile": "nope", "platforms": ["linux/amd64"], "tags": ["example/two:1"]}}}`)
	writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  web:\n    image: example/web:2\n    build:\n      context: .\n      platforms: [linux/amd64]\n")
	t.Chdir(dir)
	dest := filepath.Join(t.TempDir(), "json")
	if out, errOut, err := farmCLI(t, "bake", "-f", "bake.json", "--progress", "plain", "--output", "type=oci,dest="+dest, "one"); err != nil {
		t.Fatalf("bake -f bake.json one: %v\n%s\n%s", err, out, errOut)
	}
	l := ociLayout{t: t, dir: dest}
	if got := l.file(l.index("1"), "amd64", "hello.txt"); got != "hello\n" {
		t.Errorf("one: hello.txt = %q", got)
	}
	dest = filepath.Join(t.TempDir(), "compose")
	if out, errOut, err := farmCLI(t, "bake", "-f", "compose.yaml", "--progress", "plain", "--output", "type=oci,dest="+dest); err != nil {
		t.Fatalf("bake -f compose.yaml: %v\n%s\n%s", err, out, errOut)
	}
	l = ociLayout{t: t, dir: dest}
	if got := l.file(l.index("2"), "amd64", "hello.txt"); got != "hello\n" {
		t.Errorf("web: hello.txt = %q", got)
	}
}

// A failing base stops its dependent but not a target apart; the exit
// code is a failed build's and the metadata file says what failed.
func TestE2EBakeFailingBase(t *testing.T) {
	buildFarmHome(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), `
group "default" { targets = ["app", "apart"] }
target "stem" {
  platforms = ["linux/amd64"]
  dockerfile-inline = "FROM base\nRUN exit 3\n"
}
target "app" {
  platforms = ["linux/amd64"]
  contexts = { stem = "target:stem" }
  dockerfile-inline = "FROM stem\n"
  tags = ["example/app:1"]
}
target "apart" {
  platforms = ["linux/amd64"]
  dockerfile-inline = "FROM base\nRUN echo apart > /apart.txt\n"
  tags = ["example/apart:1"]
}`)
	t.Chdir(dir)
	dest := filepath.Join(t.TempDir(), "out")
	meta := filepath.Join(t.TempDir(), "meta.json")
	out, errOut, err := farmCLI(t, "bake", "--progress", "plain", "--metadata-file", meta, "--output", "type=oci,dest="+dest)
	if ExitCode(err) != exitFailure || !strings.Contains(OneLine(err), "1 of 3 targets failed (stem), 1 skipped (app)") {
		t.Fatalf("exit %d: %v\n%s\n%s", ExitCode(err), err, out, errOut)
	}
	l := ociLayout{t: t, dir: filepath.Join(dest, "apart")}
	if got := l.file(l.index("1"), "amd64", "apart.txt"); got != "apart\n" {
		t.Errorf("apart.txt = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dest, "app")); err == nil {
		t.Errorf("app was output although its base failed")
	}
	var md map[string]map[string]any
	data, _ := os.ReadFile(meta)
	if json.Unmarshal(data, &md) != nil || md["stem"]["farm.result"] != "failed" || md["app"]["farm.result"] != "skipped" ||
		md["apart"]["farm.result"] != "success" || md["apart"]["containerimage.digest"] == nil {
		t.Errorf("metadata: %s", data)
	}
}

// A malformed file: one line naming file and line, exit 2, no node contacted.
func TestE2EBakeMalformed(t *testing.T) {
	buildFarmHome(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), "target \"a\" {\n  tags = [\n}\n")
	t.Chdir(dir)
	_, _, err := farmCLI(t, "bake")
	if ExitCode(err) != exitUsage || OneLine(err) != err.Error() || !strings.HasPrefix(err.Error(), "docker-bake.hcl:") {
		t.Errorf("exit %d: %v", ExitCode(err), err)
	}
}
