//go:build e2e

package cmd

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerFarmHome sets up a HOME whose default farm is the docker node alone.
// The test farm's dockerd runs without a network bridge (--bridge=none),
// so BuildKit's RUN steps need --network host there.
func dockerFarmHome(t *testing.T) {
	t.Helper()
	e2eHome(t, true)
	addNode(t, "dk", theFarm.docker)
	mustCLI(t, "create", "dockeronly", "dk")
}

func TestE2EDockerOnlyEachDestination(t *testing.T) {
	dockerFarmHome(t)
	dir := writeContext(t, archContainerfile)

	// OCI layout.
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--network", "host", "--no-cache", "--platforms", "linux/amd64", "--output", "type=oci,dest="+dest, "-t", "dk:1", dir)
	if err != nil {
		t.Fatalf("docker build to OCI layout: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "[linux/amd64@dk] built-on-x86_64") || !strings.Contains(errOut, "[linux/amd64@dk] [2/3] RUN uname") {
		t.Errorf("docker build output:\n%s", errOut)
	}
	l := ociLayout{t: t, dir: dest}
	idx := l.index("1")
	if got := platformsOf(idx); got != "linux/amd64" || idx.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("index from docker: %s %+v", got, idx.Manifests)
	}
	if got := l.file(idx, "amd64", "arch"); got != "x86_64\n" {
		t.Errorf("docker image content %q", got)
	}

	// Registry, with a tagged reference.
	ref := theFarm.registry + "/e2e-docker:" + uniq()
	if out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64", "--push", "--tls-verify=false", "-t", ref, dir); err != nil {
		t.Fatalf("docker build --push: %v\n%s\n%s", err, out, errOut)
	}
	pulled := pullToLayout(t, ref)
	if got := pulled.file(pulled.index("t"), "amd64", "arch"); got != "x86_64\n" {
		t.Errorf("pushed docker image content %q", got)
	}

	// Local storage, pushed afterwards by the user's podman.
	name := "localhost/farm-e2e-docker:" + uniq()
	t.Cleanup(func() { _ = runQuiet("podman", "manifest", "rm", name) })
	if out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64", "-t", name, dir); err != nil {
		t.Fatalf("docker build to local storage: %v\n%s\n%s", err, out, errOut)
	}
	ref2 := theFarm.registry + "/e2e-docker-local:" + uniq()
	run(t, "podman", "manifest", "push", "--all", "--tls-verify=false", name, "docker://"+ref2)
	pulled2 := pullToLayout(t, ref2)
	if got := pulled2.file(pulled2.index("t"), "amd64", "arch"); got != "x86_64\n" {
		t.Errorf("local list content %q", got)
	}
}

func TestE2EMixedPodmanDockerOneIndex(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "dk", theFarm.docker)
	addNode(t, "pm", theFarm.podman1)
	mustCLI(t, "create", "mixed", "dk", "pm")
	// The test farm's docker node has only an amd64 base image; steer the
	// emulated arm64 to podman by making it the faster node.
	mustCLI(t, "connection", "update", "pm", "--weight", "3")
	dir := writeContext(t, archContainerfile)
	ref := theFarm.registry + "/e2e-mixed:" + uniq()
	out, errOut, err := farmCLI(t, "build", "--network", "host", "--no-cache", "--platforms", "linux/amd64,linux/arm64", "--push", "--tls-verify=false", "-t", ref, dir)
	if err != nil {
		t.Fatalf("mixed build: %v\n%s\n%s", err, out, errOut)
	}
	if !regexp.MustCompile(`linux/amd64\s+dk\s+native`).MatchString(out) || !regexp.MustCompile(`linux/arm64\s+pm\s+emulated`).MatchString(out) {
		t.Fatalf("both engines must build:\n%s", out)
	}
	raw := run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref)
	if strings.Contains(raw, "vnd.docker") || strings.Count(raw, "application/vnd.oci.image.manifest.v1+json") != 2 {
		t.Errorf("one consistent OCI index expected: %s", raw)
	}
	checkArchs(t, pullToLayout(t, ref), "t")

	dest := filepath.Join(t.TempDir(), "layout")
	if out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "m:1", dir); err != nil {
		t.Fatalf("mixed build to OCI layout: %v\n%s\n%s", err, out, errOut)
	}
	checkArchs(t, ociLayout{t: t, dir: dest}, "1")
}

func TestE2EDockerNodeDown(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "dk", theFarm.docker)
	addNode(t, "pm", theFarm.podman1)
	mustCLI(t, "create", "mixed", "dk", "pm")
	stop := exec.Command(filepath.Join(theFarm.repoRoot, "hack", "testfarm.sh"), "stop-node", "docker")
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("stopping the docker node: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		start := exec.Command(filepath.Join(theFarm.repoRoot, "hack", "testfarm.sh"), "start-node", "docker")
		if out, err := start.CombinedOutput(); err != nil {
			t.Errorf("restarting the docker node: %v\n%s", err, out)
		}
	})
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "x:1", writeContext(t, archContainerfile))
	if err != nil {
		t.Fatalf("a down docker node must be left out: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "(node: dk,") {
		t.Errorf("the down docker node must be named:\n%s", errOut)
	}
	if got := platformsOf(ociLayout{t: t, dir: dest}.index("1")); got != "linux/amd64,linux/arm64" {
		t.Errorf("index = %s", got)
	}
	s, _ := statusOf(t)
	if n := nodeByName(t, s, "dk"); n.Reachable || !strings.Contains(n.Error, "node.sock") {
		t.Errorf("status of the down docker node: %+v", n)
	}
}

func TestE2EDockerRejectsWhatItCannotDo(t *testing.T) {
	dockerFarmHome(t)
	secret := filepath.Join(t.TempDir(), "s")
	run(t, "sh", "-c", "echo x > "+secret)
	_, _, err := farmCLI(t, "build", "--platforms", "linux/amd64", "--secret", "id=s,src="+secret, "-t", "x:1", writeContext(t, archContainerfile))
	if msg := OneLine(err); ExitCode(err) != exitUsage || !strings.Contains(msg, "docker node dk") || !strings.Contains(msg, "--secret") {
		t.Errorf("--secret on a docker node must be refused before building, naming the node: exit %d, %v", ExitCode(err), err)
	}
}
