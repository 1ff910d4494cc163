//go:build e2e

package cmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/farmbuild/farm/transport"
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
	// The RUN proves the secret arrived (its length) without printing it;
	// COPY . puts every context file into the image, so a copy of the
	// secret sent as a context file (another node's, built at the same
	// time from the same directory) would end up there.
	dir := writeContext(t, "FROM base\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token\nCOPY . /ctx/\n")
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
	// Not in the images (their layers decompressed), not on the nodes'
	// disks, not left in the context directory.
	if blob := layoutBlobWith(t, dest, secret); blob != "" {
		t.Errorf("the secret is in the image layout, blob %s", blob)
	}
	if l := (ociLayout{t: t, dir: dest}); l.file(l.index("1"), "arm64", "ctx/hello.txt") != "hello\n" {
		t.Error("COPY . must have copied the context")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "podman-build-secret-*")); len(left) > 0 {
		t.Errorf("secret copies left in the context directory: %v", left)
	}
	for _, root := range []string{theFarm.dir, "/var/tmp", "/tmp", nodeContextCache(t)} {
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

// nodeContextCache is the test farm's context cache: its nodes are this
// machine, reached as one SSH user.
func nodeContextCache(t *testing.T) string {
	t.Helper()
	conn, err := transport.Connect(context.Background(), "p1", theFarm.podman1, theFarm.identity)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out, err := conn.Run(context.Background(), `printf %s "${XDG_CACHE_HOME:-$HOME/.cache}/farm/context"`)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// layoutBlobWith returns a blob of the OCI layout whose content, or whose
// files once decompressed and unpacked, hold needle ("" if none does).
func layoutBlobWith(t *testing.T, dir, needle string) string {
	t.Helper()
	blobs, err := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("no blobs in %s: %v", dir, err)
	}
	for _, b := range blobs {
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), needle) {
			return b
		}
		if gz, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			if plain, err := io.ReadAll(gz); err == nil && strings.Contains(string(plain), needle) {
				return b
			}
		}
	}
	return ""
}
