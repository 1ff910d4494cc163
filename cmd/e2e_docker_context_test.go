//go:build e2e

package cmd

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	units "github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The build context of docker nodes travels through a BuildKit session:
// these tests run on docker 20.10 and 28.5.2.

// TestE2EDockerContextSession checks what reaches the image through the
// session, that an unchanged rebuild moves almost nothing, and that two
// contexts built at once stay apart.
func TestE2EDockerContextSession(t *testing.T) {
	for _, e := range []engineNode{
		{name: "docker", uri: theFarm.docker, kind: "docker"},
		{name: "docker28", uri: theFarm.docker28, kind: "docker"},
	} {
		t.Run(e.name, func(t *testing.T) {
			t.Run("what-reaches-the-image", func(t *testing.T) { contextReachesTheImage(t, e) })
			t.Run("only-what-changed", func(t *testing.T) { contextOnlyWhatChanged(t, e) })
			t.Run("concurrent-contexts", func(t *testing.T) { contextsApart(t, e) })
		})
	}
}

// contextReachesTheImage: ignore rules (also for a file an earlier build
// sent), links kept as links and never followed out of the context, modes,
// empty directories, root owners, a Containerfile outside the context.
func contextReachesTheImage(t *testing.T, e engineNode) {
	engineHome(t, e)
	root := t.TempDir()
	dir, cfDir := filepath.Join(root, "ctx"), filepath.Join(root, "cf")
	secret := filepath.Join(root, "secret.txt")
	cf := filepath.Join(cfDir, "app.Containerfile")
	writeFiles(t, map[string]string{
		secret: "outside-secret\n", cf: "FROM base\nCOPY . /ctx/\n", filepath.Join(cfDir, "neighbour.txt"): "neighbour\n",
		filepath.Join(dir, "a.txt"): "a\n", filepath.Join(dir, "run.sh"): "#!/bin/sh\n", filepath.Join(dir, "private.txt"): "p\n",
		filepath.Join(dir, "owned.txt"): "o\n", filepath.Join(dir, "ignored.txt"): "ignored\n", filepath.Join(dir, ".dockerignore"): "ignored.txt\n",
	})
	for _, err := range []error{
		os.Chmod(filepath.Join(dir, "run.sh"), 0o755), os.Chmod(filepath.Join(dir, "private.txt"), 0o600),
		os.Mkdir(filepath.Join(dir, "empty"), 0o750),
		os.Symlink("a.txt", filepath.Join(dir, "in")), os.Symlink("../secret.txt", filepath.Join(dir, "up")),
		os.Symlink(secret, filepath.Join(dir, "abs")), os.Symlink(root, filepath.Join(dir, "rootdir")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 {
		if err := os.Lchown(filepath.Join(dir, "owned.txt"), 1234, 1234); err != nil {
			t.Fatal(err)
		}
	}
	build := func() map[string]imageEntry {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "layout")
		_, errOut, err := farmCLI(t, "build", "--progress", "plain", "--platforms", "linux/amd64", "-f", cf, "--output", "type=oci,dest="+dest, "-t", "c:1", dir)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, errOut)
		}
		contextSent(t, errOut)
		return imageEntries(t, ociLayout{t: t, dir: dest}, "amd64", "ctx/")
	}
	files := build()
	want := map[string]struct {
		kind byte
		mode int64
		data string
	}{
		"a.txt": {tar.TypeReg, 0o644, "a\n"}, "run.sh": {tar.TypeReg, 0o755, "#!/bin/sh\n"}, "private.txt": {tar.TypeReg, 0o600, "p\n"},
		"empty": {tar.TypeDir, 0o750, ""}, "in": {tar.TypeSymlink, 0o777, "a.txt"}, "up": {tar.TypeSymlink, 0o777, "../secret.txt"},
		"abs": {tar.TypeSymlink, 0o777, secret}, "rootdir": {tar.TypeSymlink, 0o777, root},
	}
	for name, w := range want {
		got, ok := files[name]
		if !ok {
			t.Errorf("%s is not in the image: %v", name, keys(files))
			continue
		}
		data := got.data
		if got.h.Typeflag == tar.TypeSymlink {
			data = got.h.Linkname
		}
		if got.h.Typeflag != w.kind || got.h.Mode&0o7777 != w.mode || data != w.data {
			t.Errorf("%s: type %c mode %o %q; want type %c mode %o %q", name, got.h.Typeflag, got.h.Mode&0o7777, data, w.kind, w.mode, w.data)
		}
	}
	for name, f := range files {
		if strings.Contains(f.data, "outside-secret") || strings.Contains(f.data, "neighbour") || strings.HasPrefix(name, "rootdir/") {
			t.Errorf("a file from outside the context reached the image: %s", name)
		}
	}
	if _, ok := files["ignored.txt"]; ok {
		t.Error("an ignored file reached the image")
	}
	if o, ok := files["owned.txt"]; !ok || o.h.Uid != 0 || o.h.Gid != 0 {
		t.Errorf("owned.txt must be root's, as podman makes it: %+v", o.h)
	}

	// a.txt went to the node with the first build; excluded now, it must
	// not come back from the node's copy.
	writeFiles(t, map[string]string{filepath.Join(dir, ".dockerignore"): "ignored.txt\na.txt\n"})
	files = build()
	if _, ok := files["a.txt"]; ok {
		t.Error("a file excluded now, sent by an earlier build, reached the image")
	}
	if _, ok := files["run.sh"]; !ok {
		t.Errorf("the rebuild lost a file: %v", keys(files))
	}
}

// contextOnlyWhatChanged: a node building two platforms gets the context
// once; an unchanged rebuild moves under 1% of it, a rebuild after one
// file changed under twice that file.
func contextOnlyWhatChanged(t *testing.T, e engineNode) {
	engineHome(t, e)
	dir := t.TempDir()
	files := map[string]string{filepath.Join(dir, "Containerfile"): "FROM " + theFarm.registry + "/base\nCOPY . /ctx/\n"}
	for i := range 11 {
		files[filepath.Join(dir, fmt.Sprintf("blob%02d.bin", i))] = randomString(1 << 20)
	}
	for i := range 50 {
		files[filepath.Join(dir, "small", fmt.Sprintf("f%02d.txt", i))] = fmt.Sprintf("small file %d\n", i)
	}
	writeFiles(t, files)
	size := int64(0)
	for _, data := range files {
		size += int64(len(data))
	}
	build := func() (map[string]int64, ociLayout) {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "layout")
		start := time.Now()
		_, errOut, err := farmCLI(t, "build", "--progress", "plain", "--tls-verify=false", "--platforms", "linux/amd64,linux/arm64",
			"--output", "type=oci,dest="+dest, "-t", "c:1", dir)
		if err != nil {
			t.Fatalf("build: %v\n%s", err, errOut)
		}
		sent := contextSent(t, errOut)
		t.Logf("%s: context of %s: sent %v (build %s)", e.name, units.BytesSize(float64(size)), sent, time.Since(start).Round(time.Millisecond))
		return sent, ociLayout{t: t, dir: dest}
	}
	cold, _ := build()
	if first, second := cold["linux/amd64"], cold["linux/arm64"]; first < size*9/10 || second > size/100 {
		t.Errorf("a cold build sends the %d-byte context once for the node: amd64 %d, arm64 %d bytes", size, first, second)
	}
	unchanged, _ := build()
	for p, n := range unchanged {
		if n > size/100 {
			t.Errorf("an unchanged rebuild of %s moved %d bytes, over 1%% of %d", p, n, size)
		}
	}
	changed := randomString(1 << 20)
	writeFiles(t, map[string]string{filepath.Join(dir, "blob03.bin"): changed})
	after, layout := build()
	if n := after["linux/amd64"] + after["linux/arm64"]; n < 1<<20 || n > 2<<20 {
		t.Errorf("a rebuild after one 1 MiB file changed moved %d bytes, want between 1 and 2 MiB", n)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if got := imageEntries(t, layout, arch, "ctx/")["blob03.bin"].data; got != changed {
			t.Errorf("the %s image has the old blob03.bin", arch)
		}
	}
}

// contextsApart: two contexts built at once, with a file of the same name,
// size and time but other contents, each get their own.
func contextsApart(t *testing.T, e engineNode) {
	engineHome(t, e)
	stamp := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	type build struct {
		dir, dest, same string
		out             bytes.Buffer
		cmd             *exec.Cmd
	}
	var builds []*build
	for _, name := range []string{"a", "b"} {
		b := &build{dir: t.TempDir(), dest: filepath.Join(t.TempDir(), "layout"), same: "content of " + name + "\n"}
		writeFiles(t, map[string]string{
			filepath.Join(b.dir, "Containerfile"): "FROM base\nCOPY . /ctx/\n",
			filepath.Join(b.dir, "same.txt"):      b.same, filepath.Join(b.dir, "only-"+name+".txt"): name,
		})
		if err := os.Chtimes(filepath.Join(b.dir, "same.txt"), stamp, stamp); err != nil {
			t.Fatal(err)
		}
		b.cmd = exec.Command(filepath.Join(theFarm.repoRoot, "bin", "farm"), "build", "--progress", "plain", "--platforms", "linux/amd64",
			"--output", "type=oci,dest="+b.dest, "-t", "c:1", b.dir)
		b.cmd.Stdout, b.cmd.Stderr = &b.out, &b.out
		builds = append(builds, b)
	}
	for _, b := range builds {
		if err := b.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range builds {
		if err := b.cmd.Wait(); err != nil {
			t.Fatalf("build of %s: %v\n%s", b.dir, err, b.out.String())
		}
		contextSent(t, b.out.String())
	}
	for i, b := range builds {
		files := imageEntries(t, ociLayout{t: t, dir: b.dest}, "amd64", "ctx/")
		other := builds[1-i]
		if files["same.txt"].data != b.same {
			t.Errorf("same.txt of %s is %q, want %q", b.dir, files["same.txt"].data, b.same)
		}
		for name := range files {
			if _, err := os.Lstat(filepath.Join(other.dir, name)); err == nil && name != "same.txt" && name != "Containerfile" {
				t.Errorf("the image of %s has %s from the other context", b.dir, name)
			}
		}
	}
}

// dockerSentLine is the line a node's build reports its context with.
var dockerSentLine = regexp.MustCompile(`\] sent the build context \(([^)]*)\) for (\S+): (\S+) in `)

// contextSent returns, by platform, the bytes a build reports it sent as
// context, and fails unless they went through the BuildKit session.
func contextSent(t *testing.T, errOut string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, m := range dockerSentLine.FindAllStringSubmatch(errOut, -1) {
		if !strings.HasPrefix(m[1], "BuildKit session") {
			t.Errorf("the context did not go through the BuildKit session: %s", m[0])
		}
		n, err := units.RAMInBytes(m[3])
		if err != nil {
			t.Fatalf("size in %q: %v", m[0], err)
		}
		out[m[2]] += n
	}
	if len(out) == 0 {
		t.Fatalf("no build reported the context it sent:\n%s", errOut)
	}
	return out
}

// imageEntry is a file of an image: its header, and its content.
type imageEntry struct {
	h    *tar.Header
	data string
}

// imageEntries reads the files under prefix of the image for arch in a
// layout, the upper layers winning, by path below prefix.
func imageEntries(t *testing.T, l ociLayout, arch, prefix string) map[string]imageEntry {
	t.Helper()
	idx := l.index("1")
	for _, m := range idx.Manifests {
		if m.Platform.Architecture != arch {
			continue
		}
		var man ocispec.Manifest
		if err := json.Unmarshal(l.blob(m.Digest.String()), &man); err != nil {
			t.Fatal(err)
		}
		out := map[string]imageEntry{}
		for _, layer := range man.Layers {
			readLayer(t, l.blob(layer.Digest.String()), func(h *tar.Header, data string) {
				name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/"), "/")
				if rel, ok := strings.CutPrefix(name, prefix); ok && rel != "" {
					out[rel] = imageEntry{h: h, data: data}
				}
			})
		}
		return out
	}
	t.Fatalf("no %s image in the index", arch)
	return nil
}

// writeFiles writes files (path to content), making their directories.
func writeFiles(t *testing.T, files map[string]string) {
	t.Helper()
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return string(b)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
