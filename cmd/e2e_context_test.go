//go:build e2e

package cmd

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	units "github.com/docker/go-units"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/buildcontext"
	"github.com/farmbuild/farm/buildcontext/nodecache"
	"github.com/farmbuild/farm/transport"
)

// contextNodes are the podman nodes the context cache is tried on: 4.3.1
// builds from a node directory with /libpod/build?remote=, 5.8.6 with
// /libpod/local/build.
func contextNodes() map[string]string {
	return map[string]string{"p1": theFarm.podman1, "p5": theFarm.podman5}
}

// contextHome adds the nodes, each as a farm of its own.
func contextHome(t *testing.T) {
	t.Helper()
	e2eHome(t, true)
	for name, uri := range contextNodes() {
		addNode(t, name, uri)
		mustCLI(t, "create", "only-"+name, name)
	}
}

// sentLine is the line a build logs about what it sent of the context.
var sentLine = regexp.MustCompile(`sent the build context \((?:incremental: (\d+) of (\d+) files, [^)]*|gzip tar)\) for \d+ platform\(s\): ([0-9.]+(?:B|KiB|MiB|GiB)) in`)

// sent is what a build said it sent of the context.
type sent struct {
	files, of   int
	bytes       int64
	incremental bool
	warnings    int
}

func parseSent(t *testing.T, errOut string) sent {
	t.Helper()
	m := sentLine.FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no line about the context sent:\n%s", errOut)
	}
	var s sent
	s.incremental = m[1] != ""
	s.files, _ = strconv.Atoi(m[1])
	s.of, _ = strconv.Atoi(m[2])
	n, err := units.RAMInBytes(m[3])
	if err != nil {
		t.Fatalf("size in %q: %v", m[0], err)
	}
	s.bytes = n
	s.warnings = strings.Count(errOut, "warning: the context cache on")
	return s
}

// contextBuild builds dir on one node, without the layer cache (each
// build copies the context again), into an OCI layout.
func contextBuild(t *testing.T, node, dir string, args ...string) (ociLayout, sent) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "layout")
	args = append([]string{"build", "--farm", "only-" + node, "--no-cache", "--progress", "plain", "--platforms", "linux/amd64",
		"--output", "type=oci,dest=" + dest, "-t", "ctx:1"}, append(args, dir)...)
	_, errOut, err := farmCLI(t, args...)
	if err != nil {
		t.Fatalf("farm %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return ociLayout{t: t, dir: dest}, parseSent(t, errOut)
}

// imageFiles describes every entry of an image's layers (one COPY from
// scratch): type, mode, owner, size, content hash, link target, time.
func imageFiles(l ociLayout) map[string]string {
	l.t.Helper()
	idx := l.index("1")
	var man ocispec.Manifest
	if err := json.Unmarshal(l.blob(idx.Manifests[0].Digest.String()), &man); err != nil {
		l.t.Fatal(err)
	}
	out := map[string]string{}
	for _, layer := range man.Layers {
		readLayer(l.t, l.blob(layer.Digest.String()), func(h *tar.Header, data string) {
			name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
			// podman 4 writes the file type into the mode, podman 5 not.
			out[name] = fmt.Sprintf("type=%c mode=%o owner=%d:%d size=%d sha=%x link=%s mtime=%d",
				h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid, h.Size, sha256.Sum256([]byte(data)), h.Linkname, h.ModTime.Unix())
		})
	}
	return out
}

// richContext is a context of more than 10 MiB with what the cache must
// keep: ignore rules with an exception, modes, an empty directory,
// symlinks in and out of the context, hard links, equal files.
func richContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(p string, data []byte, mode fs.FileMode) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return b
	}
	// Contents of their own: the nodes of the test farm share one cache.
	write("Containerfile", []byte("FROM scratch\n# "+uniq()+"\nCOPY . /ctx/\n"), 0o644)
	write(".containerignore", []byte("# "+uniq()+"\n*.secret\nlogs\n!logs/keep.log\n"), 0o644)
	write("big.bin", random(10<<20), 0o644)
	write("one.bin", random(1<<20), 0o644)
	write("app/run.sh", []byte("#!/bin/sh\necho "+uniq()+"\n"), 0o755)
	write("app/private.conf", []byte("private "+uniq()), 0o600)
	write("app/suid", []byte("suid "+uniq()), 0o755|fs.ModeSetuid)
	write("data/readonly.txt", []byte("ro "+uniq()), 0o444)
	write("nested/a/b/c/deep.txt", []byte("deep "+uniq()), 0o640)
	write("same1.txt", []byte("same "+uniq()), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "same2.txt"), mustRead(t, filepath.Join(dir, "same1.txt")), 0o644)
	write("hard1.txt", []byte("hard "+uniq()), 0o644)
	write("x.secret", []byte("never sent "+uniq()), 0o600)
	write("logs/drop.log", []byte("dropped"), 0o644)
	write("logs/keep.log", []byte("kept "+uniq()), 0o644)
	write("later-ignored.txt", []byte("sent once, then ignored "+uniq()), 0o644)
	for _, err := range []error{
		os.Link(filepath.Join(dir, "hard1.txt"), filepath.Join(dir, "hard2.txt")),
		os.Mkdir(filepath.Join(dir, "empty"), 0o700),
		os.Symlink("/etc/passwd", filepath.Join(dir, "out")),
		os.Symlink("../outside.txt", filepath.Join(dir, "up")),
		os.Symlink("app/run.sh", filepath.Join(dir, "in")),
		os.Symlink("app", filepath.Join(dir, "dirlink")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, p := range []string{"same1.txt", "same2.txt", "app/run.sh", "nested/a", "empty"} {
		if err := os.Chtimes(filepath.Join(dir, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestE2EContextCache: on podman 4.3.1 and 5.8.6, a build sends only what
// the node lacks, and the image is the one the whole context makes: the
// ignore rules (a file an earlier build sent but now ignored included),
// symlinks as links, modes, ownership as podman sets it, empty
// directories, hard links.
func TestE2EContextCache(t *testing.T) {
	contextHome(t)
	for node := range contextNodes() {
		t.Run(node, func(t *testing.T) {
			dir := richContext(t)
			size := int64(11 << 20)

			cold, s := contextBuild(t, node, dir)
			if !s.incremental || s.files != s.of || s.of < 10 || s.warnings != 0 {
				t.Fatalf("cold build: %+v, want every file sent, incrementally, no warning", s)
			}
			files := imageFiles(cold)
			for _, gone := range []string{"ctx/x.secret", "ctx/logs/drop.log"} {
				if _, ok := files[gone]; ok {
					t.Errorf("%s is ignored but in the image", gone)
				}
			}
			for path, want := range map[string]string{
				"ctx/out": "type=2", "ctx/up": "type=2", "ctx/empty": "type=5 mode=700", "ctx/app/run.sh": "type=0 mode=755",
				"ctx/app/private.conf": "type=0 mode=600", "ctx/logs/keep.log": "type=0 mode=644",
				"ctx/later-ignored.txt": "type=0", "ctx/hard2.txt": "type=1", "ctx/same2.txt": "type=0",
			} {
				if !strings.HasPrefix(files[path], want) {
					t.Errorf("%s: %q, want %s...", path, files[path], want)
				}
			}
			if !strings.Contains(files["ctx/out"], "link=/etc/passwd ") || !strings.Contains(files["ctx/up"], "link=../outside.txt ") {
				t.Errorf("symlinks must stay links: %q %q", files["ctx/out"], files["ctx/up"])
			}

			if _, s = contextBuild(t, node, dir); s.files != 0 || s.bytes*100 >= size {
				t.Errorf("unchanged rebuild: %+v, want nothing sent and under 1%% of %d bytes", s, size)
			}
			if err := os.WriteFile(filepath.Join(dir, "one.bin"), randomBytes(1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, s = contextBuild(t, node, dir); s.files != 1 || s.bytes >= 2<<20 {
				t.Errorf("one 1 MiB file rewritten: %+v, want it alone sent, under 2 MiB", s)
			}

			// Ignored now: the node's cache holds it, the image must not.
			// (And no symlink out of the context: podman 4 refuses the
			// whole context that holds one.)
			if err := os.WriteFile(filepath.Join(dir, ".containerignore"), []byte("# "+uniq()+"\n*.secret\nlogs\n!logs/keep.log\nlater-ignored.txt\nup\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			incremental, s := contextBuild(t, node, dir)
			if !s.incremental || s.files != 1 {
				t.Errorf("after the ignore file changed: %+v, want it alone sent", s)
			}
			got := imageFiles(incremental)
			if _, ok := got["ctx/later-ignored.txt"]; ok {
				t.Error("a file an earlier build sent, ignored now, is in the image")
			}
			t.Setenv("FARM_CONTEXT_CACHE", "off")
			whole, s := contextBuild(t, node, dir)
			t.Setenv("FARM_CONTEXT_CACHE", "")
			if s.incremental {
				t.Fatalf("FARM_CONTEXT_CACHE=off: %+v, want the whole context", s)
			}
			want := imageFiles(whole)
			// Made by the build, not taken from the context: the COPY's
			// destination, and the excluded directory of an exception.
			for _, made := range []string{"ctx", "ctx/logs"} {
				if !strings.HasPrefix(got[made], "type=5 mode=755 owner=0:0") || !strings.HasPrefix(want[made], "type=5 mode=755 owner=0:0") {
					t.Errorf("%s: from the cache %q, from the whole context %q", made, got[made], want[made])
				}
				delete(got, made)
				delete(want, made)
			}
			for path, w := range want {
				if got[path] != w {
					t.Errorf("%s: from the cache %q, from the whole context %q", path, got[path], w)
				}
			}
			for path := range got {
				if _, ok := want[path]; !ok {
					t.Errorf("%s: only in the image built from the cache", path)
				}
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestE2EContextConcurrentBuilds: two builds from two clients' contexts
// at once on the same node (the same SSH user's cache) each see only
// their own files.
func TestE2EContextConcurrentBuilds(t *testing.T) {
	contextHome(t)
	for node := range contextNodes() {
		t.Run(node, func(t *testing.T) {
			var dirs, dests [2]string
			var cmds [2]*exec.Cmd
			var logs [2]bytes.Buffer
			for i := range dirs {
				dirs[i] = writeContext(t, "FROM scratch\nCOPY . /ctx/\n")
				if err := os.WriteFile(filepath.Join(dirs[i], fmt.Sprintf("only-%d.txt", i)), randomBytes(2<<20), 0o644); err != nil {
					t.Fatal(err)
				}
				dests[i] = filepath.Join(t.TempDir(), "layout")
				cmds[i] = exec.Command(filepath.Join(theFarm.repoRoot, "bin", "farm"), "build", "--farm", "only-"+node, "--no-cache", "--progress", "plain",
					"--platforms", "linux/amd64", "--output", "type=oci,dest="+dests[i], "-t", "ctx:1", dirs[i])
				cmds[i].Stderr = &logs[i]
				if err := cmds[i].Start(); err != nil {
					t.Fatal(err)
				}
			}
			for i, c := range cmds {
				if err := c.Wait(); err != nil {
					t.Fatalf("build %d: %v\n%s", i, err, logs[i].String())
				}
				if s := parseSent(t, logs[i].String()); !s.incremental || s.warnings != 0 {
					t.Errorf("build %d: %+v, want its context from the cache", i, s)
				}
			}
			for i, dest := range dests {
				files := imageFiles(ociLayout{t: t, dir: dest})
				_, mine := files[fmt.Sprintf("ctx/only-%d.txt", i)]
				_, theirs := files[fmt.Sprintf("ctx/only-%d.txt", 1-i)]
				if !mine || theirs {
					t.Errorf("build %d's image: %v", i, files)
				}
			}
		})
	}
}

// cutRunner cuts every script's input short after limit bytes, as a
// connection that breaks: the lists are shorter, the files and the
// context are not.
type cutRunner struct {
	*transport.Conn
	limit int64
}

func (c *cutRunner) RunInput(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	return c.Conn.RunInput(ctx, script, io.LimitReader(stdin, c.limit))
}

// TestE2EContextUploadCutShortIsNeverUsed: files whose upload was cut
// short never enter the node's cache; the next build sends them again
// and its image is whole.
func TestE2EContextUploadCutShortIsNeverUsed(t *testing.T) {
	contextHome(t)
	for node, uri := range contextNodes() {
		t.Run(node, func(t *testing.T) {
			dir := writeContext(t, "FROM scratch\nCOPY . /ctx/\n")
			if err := os.WriteFile(filepath.Join(dir, "big.bin"), randomBytes(4<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			snap, err := buildcontext.New(buildcontext.Options{Dir: dir, Containerfile: filepath.Join(dir, "Containerfile"), Excludes: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			ctx := context.Background()
			conn, err := transport.Connect(ctx, node, uri, theFarm.identity)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cut := &cutRunner{Conn: conn, limit: 2 << 20}
			nonce := uniq() + uniq()
			if _, err := nodecache.Prepare(ctx, cut, snap, nonce, nil); err == nil || !strings.Contains(err.Error(), "did not arrive whole") {
				t.Fatalf("a stream cut short: %v", err)
			}
			if err := nodecache.Finish(ctx, conn, nonce, nodecache.DefaultLimits); err != nil {
				t.Fatal(err)
			}
			entries, _ := snap.Entries(ctx)
			blobs, err := conn.Run(ctx, `ls "${XDG_CACHE_HOME:-$HOME/.cache}/farm/context/blobs"`)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Path == "big.bin" && bytes.Contains(blobs, []byte(e.Key())) {
					t.Errorf("big.bin, cut short, is in the node's cache as %s", e.Key())
				}
			}
			l, s := contextBuild(t, node, dir)
			if s.files == 0 || s.bytes < 4<<20 {
				t.Errorf("after a stream cut short: %+v, want big.bin sent again", s)
			}
			sum := sha256.Sum256(mustRead(t, filepath.Join(dir, "big.bin")))
			if got := imageFiles(l)["ctx/big.bin"]; !strings.Contains(got, fmt.Sprintf("sha=%x", sum)) {
				t.Errorf("big.bin in the image: %s", got)
			}
		})
	}
}

// TestE2EContextFallbackWarnsOnceAndBuilds: podman 4 cannot build from a
// node directory with another Containerfile than the context's own: the
// whole context goes, with one warning for the node, and the build
// succeeds; podman 5.8.6 takes it from the cache.
func TestE2EContextFallbackWarnsOnceAndBuilds(t *testing.T) {
	contextHome(t)
	dir := writeContext(t, "FROM scratch\nCOPY . /ctx/\n")
	if err := os.WriteFile(filepath.Join(dir, "Other.cf"), []byte("FROM scratch\nCOPY hello.txt /other/\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for node, wantIncremental := range map[string]bool{"p1": false, "p5": true} {
		dest := filepath.Join(t.TempDir(), "layout")
		_, errOut, err := farmCLI(t, "build", "--farm", "only-"+node, "--progress", "plain", "--platforms", "linux/amd64,linux/arm64",
			"-f", filepath.Join(dir, "Other.cf"), "--output", "type=oci,dest="+dest, "-t", "ctx:1", dir)
		if err != nil {
			t.Fatalf("%s: %v\n%s", node, err, errOut)
		}
		s := parseSent(t, errOut)
		if s.incremental != wantIncremental || (s.warnings == 1) == wantIncremental || s.warnings > 1 {
			t.Errorf("%s: %+v, want incremental %v with %d warnings\n%s", node, s, wantIncremental, map[bool]int{true: 0, false: 1}[wantIncremental], errOut)
		}
		l := ociLayout{t: t, dir: dest}
		if got := l.file(l.index("1"), "arm64", "other/hello.txt"); got != "hello\n" {
			t.Errorf("%s: the image of -f Other.cf: %q", node, got)
		}
	}
}

// TestE2EContextSecretNeverCached: a --secret reaches the RUN step of a
// build from the cache, and nothing of it stays in the node's cache.
func TestE2EContextSecretNeverCached(t *testing.T) {
	contextHome(t)
	secret := "s3cr3t-" + uniq() + "-cache"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeContext(t, "FROM base\nRUN --mount=type=secret,id=token wc -c < /run/secrets/token\nCOPY . /ctx/\n")
	for node := range contextNodes() {
		_, errOut, err := farmCLI(t, "build", "--farm", "only-"+node, "--no-cache", "--progress", "plain", "--platforms", "linux/amd64",
			"--secret", "id=token,src="+file, "--output", "type=oci,dest="+filepath.Join(t.TempDir(), "layout"), "-t", "ctx:1", dir)
		if err != nil {
			t.Fatalf("%s: %v\n%s", node, err, errOut)
		}
		if s := parseSent(t, errOut); !s.incremental || !regexpMatch(`(?m)\] `+strconv.Itoa(len(secret))+`$`, errOut) {
			t.Errorf("%s: %+v, want the context from the cache and the RUN step to see the secret\n%s", node, s, errOut)
		}
		if out, _ := exec.Command("grep", "-rl", secret, nodeContextCache(t)).Output(); len(out) > 0 {
			t.Errorf("%s: the secret is in the node's context cache: %s", node, out)
		}
	}
}
