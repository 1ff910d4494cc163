//go:build e2e

package cmd

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// archContainerfile runs a RUN step that records the machine it ran on.
const archContainerfile = "FROM base\nRUN uname -m > /arch && echo built-on-$(uname -m)\nCOPY hello.txt /hello.txt\n"

// buildFarmHome sets up a HOME with a farm "two" of the two podman nodes.
func buildFarmHome(t *testing.T) {
	t.Helper()
	e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	addNode(t, "p2", theFarm.podman2)
	mustCLI(t, "create", "two", "p1", "p2")
}

// writeContext makes a build context with a Containerfile and hello.txt.
func writeContext(t *testing.T, containerfile string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// uniq returns a short random suffix for names in shared storage.
func uniq() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run runs a command and fails the test when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ociLayout reads an OCI image layout.
type ociLayout struct {
	t   *testing.T
	dir string
}

func (l ociLayout) blob(d string) []byte {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		l.t.Fatalf("blob %s: %v", d, err)
	}
	return data
}

// index returns the multi-arch index named ref in index.json.
func (l ociLayout) index(ref string) ocispec.Index {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.dir, "index.json"))
	if err != nil {
		l.t.Fatal(err)
	}
	var top ocispec.Index
	if err := json.Unmarshal(data, &top); err != nil {
		l.t.Fatal(err)
	}
	for _, d := range top.Manifests {
		if d.Annotations[ocispec.AnnotationRefName] == ref {
			var idx ocispec.Index
			if err := json.Unmarshal(l.blob(d.Digest.String()), &idx); err != nil {
				l.t.Fatal(err)
			}
			return idx
		}
	}
	l.t.Fatalf("no %s in %s", ref, data)
	return ocispec.Index{}
}

// platforms lists an index's platforms as os/arch[/variant].
func platformsOf(idx ocispec.Index) string {
	var out []string
	for _, m := range idx.Manifests {
		s := m.Platform.OS + "/" + m.Platform.Architecture
		if m.Platform.Variant != "" {
			s += "/" + m.Platform.Variant
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// file returns the content of path in the image for arch, read from its layers.
func (l ociLayout) file(idx ocispec.Index, arch, path string) string {
	l.t.Helper()
	for _, m := range idx.Manifests {
		if m.Platform.Architecture != arch {
			continue
		}
		var man ocispec.Manifest
		if err := json.Unmarshal(l.blob(m.Digest.String()), &man); err != nil {
			l.t.Fatal(err)
		}
		// The topmost layer holding the file wins.
		content, found := "", false
		for _, layer := range man.Layers {
			if c, ok := tarFile(l.t, l.blob(layer.Digest.String()), path); ok {
				content, found = c, true
			}
		}
		if found {
			return content
		}
		l.t.Fatalf("%s not in the %s image", path, arch)
	}
	l.t.Fatalf("no %s image in the index", arch)
	return ""
}

func tarFile(t *testing.T, layer []byte, path string) (string, bool) {
	t.Helper()
	content, found := "", false
	readLayer(t, layer, func(h *tar.Header, data string) {
		if !found && strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/") == path {
			content, found = data, true
		}
	})
	return content, found
}

// readLayer calls fn with each entry of a (gzip) tar layer.
func readLayer(t *testing.T, layer []byte, fn func(*tar.Header, string)) {
	t.Helper()
	var r io.Reader = bytes.NewReader(layer)
	if bytes.HasPrefix(layer, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	tr := tar.NewReader(bufio.NewReader(r))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		fn(h, string(data))
	}
}

// pullToLayout copies a multi-arch image from the test registry into a new
// OCI layout under the ref name "t", with skopeo.
func pullToLayout(t *testing.T, ref string) ociLayout {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	run(t, "skopeo", "copy", "--all", "--src-tls-verify=false", "docker://"+ref, "oci:"+dir+":t")
	return ociLayout{t: t, dir: dir}
}

// registryTags lists a repository's tags in the test registry.
func registryTags(t *testing.T, repo string) string {
	t.Helper()
	out, err := exec.Command("skopeo", "list-tags", "--tls-verify=false", "docker://"+theFarm.registry+"/"+repo).CombinedOutput()
	switch {
	case err == nil:
		return string(out)
	case strings.Contains(string(out), "404") || strings.Contains(string(out), "NAME_UNKNOWN"):
		return "" // no such repository: no tags
	}
	t.Fatalf("listing the tags of %s: %v\n%s", repo, err, out)
	return ""
}

func execCommand(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
