//go:build e2e

package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// nodeSockets are the local API sockets of the two podman nodes.
func nodeSockets() []string {
	return []string{os.Getenv("FARM_TEST_PODMAN1_SOCK"), os.Getenv("FARM_TEST_PODMAN2_SOCK")}
}

func TestE2EBuildSecretNotLeftBehind(t *testing.T) {
	buildFarmHome(t)
	secret := "s3cr3t-" + uniq() + "-value"
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	// The RUN proves the secret arrived (its length) without printing it.
	dir := writeContext(t, "FROM base\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token\n")
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--no-cache", "--platforms", "linux/amd64,linux/arm64", "--secret", "id=token,src="+secretFile,
		"--output", "type=oci,dest="+dest, "-t", "secret:1", "--log-level", "debug", dir)
	if err != nil {
		t.Fatalf("build with --secret: %v\n%s\n%s", err, out, errOut)
	}
	if n := len(regexp.MustCompile(`(?m)\] `+strconv.Itoa(len(secret))+`$`).FindAllString(errOut, -1)); n < 2 {
		t.Errorf("each platform's RUN must see the %d-byte secret:\n%s", len(secret), errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("the secret was logged")
	}
	// Not in the images, not on the nodes' disks.
	if grep := exec.Command("grep", "-rl", secret, dest); grep.Run() == nil {
		t.Errorf("the secret is in the image layout")
	}
	for _, root := range []string{theFarm.dir, "/var/tmp", "/tmp"} {
		out, _ := exec.Command("grep", "-rl", "--exclude-dir=overlay", secret, root).Output()
		for _, f := range strings.Fields(string(out)) {
			if !strings.HasPrefix(f, filepath.Dir(secretFile)) {
				t.Errorf("the secret was left on a node: %s", f)
			}
		}
	}
}

func TestE2EBuildCleanup(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, "FROM base\nRUN echo "+uniq()+" > /unique\n")
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--cleanup", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "clean:1", dir)
	if err != nil {
		t.Fatalf("build --cleanup: %v\n%s\n%s", err, out, errOut)
	}
	ids := regexp.MustCompile(`(?m)^\[linux/(?:amd64|arm64)@p[12]\] ([0-9a-f]{64})$`).FindAllStringSubmatch(errOut, -1)
	if len(ids) < 2 {
		t.Fatalf("image IDs not found in the build output:\n%s", errOut)
	}
	for _, m := range ids {
		for _, sock := range nodeSockets() {
			if exec.Command("podman", "--url", "unix://"+sock, "image", "exists", m[1]).Run() == nil {
				t.Errorf("--cleanup left image %s on %s", m[1][:12], sock)
			}
		}
	}
	if got := platformsOf(ociLayout{t: t, dir: dest}.index("1")); got != "linux/amd64,linux/arm64" {
		t.Errorf("the result must survive --cleanup: %s", got)
	}
}
