package podman

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blang/semver/v4"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/buildcontext"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/internal/enginetest"
)

// shellLink is a test link whose node is this machine: scripts run with
// /bin/sh in a HOME of their own.
type shellLink struct {
	*enginetest.Link
	home string
}

func (l shellLink) Run(ctx context.Context, script string) ([]byte, error) {
	return l.RunInput(ctx, script, nil)
}

func (l shellLink) RunInput(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Env = []string{"HOME=" + l.home, "PATH=/usr/bin:/bin"}
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(err.Error() + ": " + stderr.String())
	}
	return out, nil
}

// buildCall is what the engine was asked for one build call.
type contextCall struct {
	path  string
	query url.Values
	body  []byte
	// files is the context directory the call named, as it was then.
	files map[string]string
}

// contextRecorder records the build calls, answers /libpod/local/build
// with 404 when noLocal, and has the fake build the rest.
type contextRecorder struct {
	fake    *fakePodman
	noLocal bool
	mu      sync.Mutex
	calls   []contextCall
}

func (c *contextRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := libpodPath.ReplaceAllString(r.URL.Path, "")
	if path != "/build" && path != "/local/build" {
		c.fake.ServeHTTP(w, r)
		return
	}
	call := contextCall{path: path, query: r.URL.Query()}
	call.body, _ = io.ReadAll(r.Body)
	dir := call.query.Get("localcontextdir") + call.query.Get("remote")
	if dir != "" {
		call.files = readTree(dir)
	}
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	if path == "/local/build" && c.noLocal {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"cause":"not found","message":"not found","response":404}`)
		return
	}
	r.URL.Path = "/v5.0.0/libpod/build"
	r.Body = io.NopCloser(bytes.NewReader(call.body))
	c.fake.ServeHTTP(w, r)
}

// readTree reads a directory: files by content, symlinks as "->TARGET",
// directories as "/".
func readTree(root string) map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "->" + target
		case d.IsDir():
			out[rel] = "/"
		default:
			data, _ := os.ReadFile(p)
			out[rel] = string(data)
		}
		return nil
	})
	return out
}

func contextEngine(t *testing.T, rec *contextRecorder, version string) (*Engine, string) {
	t.Helper()
	rec.fake.images, rec.fake.lists, rec.fake.tags = map[string]string{}, map[string][]string{}, map[string]string{}
	home := t.TempDir()
	e, err := New(context.Background(), shellLink{Link: enginetest.NewLink(t, "pm", rec), home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	e.version = semver.MustParse(version)
	e.major = e.version.Major
	return e, home
}

// contextRequest is a build of amd64 and arm64 from files, with the
// build's snapshot.
func contextRequest(t *testing.T, files map[string]string, containerfile string) (engine.NodeBuild, *[]string) {
	t.Helper()
	req := enginetest.Request(t, files, enginetest.AMD64, enginetest.ARM64)
	if containerfile != "" {
		req.Containerfile = filepath.Join(req.ContextDir, containerfile)
	}
	req.Excludes = []string{}
	snap, err := buildcontext.New(buildcontext.Options{Dir: req.ContextDir, Containerfile: req.Containerfile, Excludes: req.Excludes, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snap.Close() })
	req.Snapshot = snap
	var logged []string
	req.Log = func(_ *ocispec.Platform, line string) { logged = append(logged, line) }
	return req, &logged
}

func warnings(logged []string) []string {
	var out []string
	for _, l := range logged {
		if strings.HasPrefix(l, "warning:") {
			out = append(out, l)
		}
	}
	return out
}

func TestPodman5BuildsFromTheContextOnTheNode(t *testing.T) {
	rec := &contextRecorder{fake: &fakePodman{}}
	e, home := contextEngine(t, rec, "5.8.6")
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	req, logged := contextRequest(t, map[string]string{"Dockerfile.app": "FROM scratch\nCOPY . /\n", "a.txt": "alpha"}, "Dockerfile.app")
	req.Secrets = []string{"id=tok,src=" + secret}
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 1 || rec.calls[0].path != "/local/build" || len(rec.calls[0].body) != 0 {
		t.Fatalf("calls %+v, want one /libpod/local/build without a body", rec.calls)
	}
	q, files := rec.calls[0].query, rec.calls[0].files
	if !strings.HasSuffix(q.Get("localcontextdir"), "/ctx") || q.Get("dockerfile") != `["Dockerfile.app"]` {
		t.Errorf("localcontextdir %q, dockerfile %q", q.Get("localcontextdir"), q.Get("dockerfile"))
	}
	// The secret is a file of the context named by the node's --secret;
	// podman moves it out before the build.
	var secretName string
	if s := q.Get("secrets"); !strings.HasPrefix(s, `["id=tok,src=farm-secret-`) {
		t.Errorf("secrets %q", s)
	} else {
		secretName = strings.TrimSuffix(strings.TrimPrefix(s, `["id=tok,src=`), `"]`)
	}
	if files["a.txt"] != "alpha" || files[secretName] != "s3cr3t" || len(files) != 4 {
		t.Errorf("the context on the node: %v", files)
	}
	if w := warnings(*logged); len(w) != 0 || !slices.ContainsFunc(*logged, func(l string) bool { return strings.HasPrefix(l, "sent the build context (incremental: 2 of 2 files") }) {
		t.Errorf("logged %q", *logged)
	}
	e.Close()
	if left, _ := os.ReadDir(filepath.Join(home, ".cache/farm/context/builds")); len(left) != 0 {
		t.Errorf("the call's directory is left on the node: %v", left)
	}
}

func TestPodman4BuildsFromTheContextOnlyWithItsOwnContainerfile(t *testing.T) {
	rec := &contextRecorder{fake: &fakePodman{}}
	e, _ := contextEngine(t, rec, "4.3.1")
	req, logged := contextRequest(t, map[string]string{"a.txt": "alpha"}, "")
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 1 || rec.calls[0].path != "/build" || !strings.HasSuffix(rec.calls[0].query.Get("remote"), "/ctx") || len(rec.calls[0].body) != 0 || rec.calls[0].files["a.txt"] != "alpha" {
		t.Fatalf("calls %+v, want one /libpod/build?remote=DIR", rec.calls)
	}
	if len(warnings(*logged)) != 0 {
		t.Errorf("warned: %q", *logged)
	}

	// Another Containerfile, or a read-write mount: the whole context,
	// with one warning for the node.
	for _, files := range []map[string]string{
		{"Containerfile": "FROM scratch\nCOPY . /\n", "other.cf": "FROM scratch\n"},
		{"Containerfile": "FROM scratch\nRUN --mount=type=bind,target=/c,rw true\n"},
	} {
		rec.calls = nil
		cf := ""
		if _, ok := files["other.cf"]; ok {
			cf = "other.cf"
		}
		req, logged := contextRequest(t, files, cf)
		req.Platforms = req.Platforms[:1]
		if _, err := e.Build(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if len(rec.calls) != 1 || rec.calls[0].query.Get("remote") != "" || len(rec.calls[0].body) == 0 {
			t.Errorf("%v: calls %+v, want the whole context", files, rec.calls)
		}
		if w := warnings(*logged); len(w) != 1 || !strings.Contains(w[0], "podman 4.3.1") {
			t.Errorf("%v: warnings %q, want one naming podman 4.3.1", files, w)
		}
	}
}

func TestPodmanWithoutLocalBuildSendsTheWholeContextOnce(t *testing.T) {
	rec := &contextRecorder{fake: &fakePodman{}, noLocal: true}
	e, _ := contextEngine(t, rec, "5.8.6")
	req, logged := contextRequest(t, map[string]string{"a.txt": "alpha"}, "")
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 2 || rec.calls[0].path != "/local/build" || rec.calls[1].path != "/build" || len(rec.calls[1].body) == 0 {
		t.Fatalf("calls %+v, want /local/build then the whole context", rec.calls)
	}
	if w := warnings(*logged); len(w) != 1 {
		t.Errorf("warnings %q, want one", w)
	}
	// The node is known to lack it now: podman 4's way from the next call.
	rec.calls = nil
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 1 || rec.calls[0].query.Get("remote") == "" {
		t.Errorf("calls %+v, want /libpod/build?remote=DIR", rec.calls)
	}
}

// TestSnapshotListsWhatTheBindingsSend: the context a node assembles has
// exactly the entries of the tar the bindings send: the same paths, kinds,
// modes, times, symlink targets, contents and hard links.
func TestSnapshotListsWhatTheBindingsSend(t *testing.T) {
	rec := &contextRecorder{fake: &fakePodman{}}
	e, _ := contextEngine(t, rec, "5.8.6")
	req, _ := contextRequest(t, map[string]string{}, "")
	dir := req.ContextDir
	for name, data := range map[string]string{
		"sub/Containerfile": "FROM scratch\nCOPY . /\n", "sub/Containerfile.dockerignore": "*.log\nvendor\n!vendor/keep\n",
		"a.txt": "alpha", "debug.log": "excluded", "vendor/drop": "x", "vendor/keep": "kept", "run.sh": "#!/bin/sh\n",
		"podman-build-secret-1": "another build's secret copy",
	} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []error{
		os.Chmod(filepath.Join(dir, "run.sh"), 0o755), os.Mkdir(filepath.Join(dir, "empty"), 0o700),
		os.Symlink("/etc/passwd", filepath.Join(dir, "out")), os.Symlink("../a.txt", filepath.Join(dir, "sub/up")),
		os.Link(filepath.Join(dir, "a.txt"), filepath.Join(dir, "hard.txt")),
		os.Chtimes(filepath.Join(dir, "run.sh"), time.Unix(1600000000, 700_000_000), time.Unix(1600000000, 700_000_000)),
	} {
		if err := step; err != nil {
			t.Fatal(err)
		}
	}
	req.Containerfile = filepath.Join(dir, "sub/Containerfile")
	req.Excludes = []string{"*.log", "vendor", "!vendor/keep"}
	snap, err := buildcontext.New(buildcontext.Options{Dir: dir, Containerfile: req.Containerfile, Excludes: req.Excludes})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	req.Snapshot = nil // the bindings' tar
	req.Platforms = req.Platforms[:1]
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	sent := tarEntries(t, rec.calls[0].body)
	entries, err := snap.Entries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, en := range entries {
		listed[en.Path] = describe(en, entries)
	}
	if !maps.Equal(sent, listed) {
		t.Errorf("the bindings sent:\n%v\nthe snapshot lists:\n%v", sent, listed)
	}
}

// describe words an entry as tarEntries words a tar header.
func describe(e buildcontext.Entry, all []buildcontext.Entry) string {
	switch {
	case e.Kind == buildcontext.Dir:
		return "dir " + strconv.FormatInt(e.Mode, 8) + " " + strconv.FormatInt(e.MTime, 10)
	case e.Kind == buildcontext.Symlink:
		return "symlink " + e.Target + " " + strconv.FormatInt(e.MTime, 10)
	case e.LinkOf >= 0:
		return "link " + all[e.LinkOf].Path
	}
	return "file " + strconv.FormatInt(e.Mode, 8) + " " + strconv.FormatInt(e.MTime, 10) + " " + strconv.FormatInt(e.Size, 10)
}

func tarEntries(t *testing.T, body []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		switch h.Typeflag {
		case tar.TypeDir:
			out[name] = "dir " + strconv.FormatInt(h.Mode, 8) + " " + strconv.FormatInt(h.ModTime.Unix(), 10)
		case tar.TypeSymlink:
			out[name] = "symlink " + h.Linkname + " " + strconv.FormatInt(h.ModTime.Unix(), 10)
		case tar.TypeLink:
			out[name] = "link " + h.Linkname
		default:
			out[name] = "file " + strconv.FormatInt(h.Mode, 8) + " " + strconv.FormatInt(h.ModTime.Unix(), 10) + " " + strconv.FormatInt(h.Size, 10)
		}
	}
}
