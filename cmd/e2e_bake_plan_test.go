//go:build e2e

package cmd

import (
	"path/filepath"
	"strings"
	"testing"
)

// bakeCopyHCL is a base and an image FROM it, COPY only (no RUN, so
// every engine builds any platform it pulls), and a target apart.
func bakeCopyHCL(platforms string) string {
	return `
group "default" { targets = ["app", "apart"] }
target "_p" { platforms = [` + platforms + `] }
target "stem" {
  inherits = ["_p"]
  dockerfile-inline = "FROM ` + theFarm.registry + `/base\nCOPY hello.txt /stem.txt\n"
}
target "app" {
  inherits = ["_p"]
  contexts = { stem = "target:stem" }
  dockerfile-inline = "FROM stem\nCOPY hello.txt /app.txt\n"
  tags = ["example/app:1"]
}
target "apart" {
  inherits = ["_p"]
  dockerfile-inline = "FROM ` + theFarm.registry + `/base\nCOPY hello.txt /apart.txt\n"
  tags = ["example/apart:1"]
}`
}

// On podman 5.8.6, a target: dependency: the dependent's image for each
// platform holds its base's file; then --dry-run prints the joint plan
// from the facts the build left, contacting no node.
func TestE2EBakePodman5(t *testing.T) {
	engineHome(t, coreEngines()[0])
	dir := writeContext(t, "FROM scratch\n")
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), bakeCopyHCL(`"linux/amd64", "linux/arm64"`))
	t.Chdir(dir)
	dest := filepath.Join(t.TempDir(), "out")
	out, errOut, err := farmCLI(t, "bake", "--farm", "only", "--progress", "plain", "--output", "type=oci,dest="+dest)
	if err != nil {
		t.Fatalf("bake: %v\n%s\n%s", err, out, errOut)
	}
	l := ociLayout{t: t, dir: filepath.Join(dest, "app")}
	idx := l.index("1")
	if got := platformsOf(idx); got != "linux/amd64,linux/arm64" {
		t.Errorf("app's platforms = %s", got)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if got := l.file(idx, arch, "stem.txt"); got != "hello\n" {
			t.Errorf("app %s: stem.txt = %q, not its base's", arch, got)
		}
		if got := l.file(idx, arch, "app.txt"); got != "hello\n" {
			t.Errorf("app %s: app.txt = %q", arch, got)
		}
	}
	out, errOut, err = farmCLI(t, "bake", "--farm", "only", "--dry-run", "--log-level", "info")
	if err != nil {
		t.Fatalf("bake --dry-run: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"TARGET", "stem    linux/amd64  podman5  native", "app     linux/arm64  podman5  emulated",
		"on the node that builds what it starts from", "apart   linux/arm64  podman5"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(errOut, "opening node") || strings.Contains(out, "unknown") {
		t.Errorf("a dry run with fresh facts contacted a node, or lacks the facts' age:\n%s\n%s", out, errOut)
	}
}

// On a farm of docker 28.5.2 and podman 4.3.1, the base of a target:
// dependency and its dependent go to the podman node (docker's build API
// takes no image from a node as a named context); a target apart may go
// to the docker node. With docker alone, the run is refused in one line.
func TestE2EBakeDependencyOnPodmanOnly(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "docker28", theFarm.docker28)
	addNode(t, "p1", theFarm.podman1)
	mustCLI(t, "create", "mixed", "docker28", "p1")
	mustCLI(t, "create", "dockeronly", "docker28")
	dir := writeContext(t, "FROM scratch\n")
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), bakeCopyHCL(`"linux/amd64"`))
	t.Chdir(dir)
	out, errOut, err := farmCLI(t, "bake", "--farm", "mixed", "--dry-run")
	if err != nil {
		t.Fatalf("bake --dry-run: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"stem    linux/amd64  p1", "app     linux/amd64  p1", "apart   linux/amd64  docker28"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	dest := filepath.Join(t.TempDir(), "out")
	out, errOut, err = farmCLI(t, "bake", "--farm", "mixed", "--progress", "plain", "--output", "type=oci,dest="+dest)
	if err != nil {
		t.Fatalf("bake: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"stem    ok      linux/amd64@p1", "app     ok      linux/amd64@p1", "apart   ok      linux/amd64@docker28"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	l := ociLayout{t: t, dir: filepath.Join(dest, "app")}
	if got := l.file(l.index("1"), "amd64", "stem.txt"); got != "hello\n" {
		t.Errorf("app: stem.txt = %q", got)
	}
	_, _, err = farmCLI(t, "bake", "--farm", "dockeronly", "--dry-run")
	if ExitCode(err) == 0 || OneLine(err) != err.Error() || !strings.Contains(err.Error(), "target stem can only be built on podman nodes (other targets start from its images on the node that built it)") {
		t.Errorf("docker alone: exit %d: %v", ExitCode(err), err)
	}
}
