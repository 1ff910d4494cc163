package docker

import (
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/internal/enginetest"
)

// fakeSessions is the engine's side of BuildKit sessions as dockerd has
// it: a session manager, and per shared key a directory that keeps what
// was synced between builds, as BuildKit keeps its copy of a context.
type fakeSessions struct {
	sm  *session.Manager
	dir string

	mu     sync.Mutex
	opened int
	// keys are the shared keys of the syncs, in order.
	keys []string
	// dockerfile lists what the "dockerfile" local held at the last sync,
	// asked for whole (no patterns).
	dockerfile []string
	// answers are the session's credentials by host, as "user:secret"
	// ("" for none), when the builds asked (sessionauth_test.go).
	answers map[string]string
}

func newFakeSessions(t *testing.T) *fakeSessions {
	t.Helper()
	sm, err := session.NewManager()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeSessions{sm: sm, dir: t.TempDir()}
}

func (s *fakeSessions) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.opened++
	s.mu.Unlock()
	_ = s.sm.HandleHTTPRequest(r.Context(), w, r)
}

// sync pulls the context of session id into its shared key's directory
// and lists it into files; it pulls the "dockerfile" local too.
func (s *fakeSessions) sync(ctx context.Context, id string, files *[]string) error {
	c, err := s.sm.Get(ctx, id, false)
	if err != nil {
		return err
	}
	dest := filepath.Join(s.dir, c.SharedKey())
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return err
	}
	if err := filesync.FSSync(ctx, c, filesync.FSSendRequestOpt{Name: localContext, DestDir: dest}); err != nil {
		return err
	}
	df, err := os.MkdirTemp(s.dir, "dockerfile-")
	if err != nil {
		return err
	}
	if err := filesync.FSSync(ctx, c, filesync.FSSendRequestOpt{Name: localDockerfile, DestDir: df}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, c.SharedKey())
	s.dockerfile = listDir(df)
	*files = listDir(dest)
	return nil
}

// listDir lists the paths under dir, slash-separated, sorted.
func listDir(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(dir, p); err == nil && rel != "." {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// logLines collects a build's output lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) log(_ *ocispec.Platform, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func TestBuildSendsTheContextThroughOneSession(t *testing.T) {
	f := &fakeDocker{}
	fakeEngine(t, f)
	queries := &enginetest.BuildQueries{Handler: f}
	e, err := New(context.Background(), enginetest.NewLink(t, "dk", queries))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	req := enginetest.Request(t, map[string]string{"app.txt": "app", ".env": "SECRET=1", ".dockerignore": ".env\n"}, enginetest.AMD64, enginetest.ARM64)
	var logs logLines
	req.Log = logs.log
	if built, err := e.Build(context.Background(), req); err != nil || len(built) != 2 {
		t.Fatalf("Build = %+v, %v", built, err)
	}
	if f.sessions.opened != 1 {
		t.Errorf("one session for the node's platforms, not %d", f.sessions.opened)
	}
	if slices.Contains(f.files, ".env") || !slices.Contains(f.files, "app.txt") {
		t.Errorf("the session must leave out what .dockerignore excludes: %v", f.files)
	}
	for _, q := range queries.Queries() {
		if q.Get("remote") != "client-session" || q.Get("session") == "" || q.Get("dockerfile") != sessionDockerfile {
			t.Errorf("a build call must name the session: %v", q)
		}
	}
	if n := logs.count("sent the build context (BuildKit session"); n != 2 || logs.count("warning") != 0 {
		t.Errorf("each platform says what its context cost, and nothing warns: %q", logs.lines)
	}
}

func TestSessionSharedKeyIsPerClientAndDirectory(t *testing.T) {
	k := sharedKey("client", "/src/a")
	if k != sharedKey("client", "/src/a") || len(k) != 64 {
		t.Errorf("the key must be stable: %q", k)
	}
	for _, other := range []string{sharedKey("client", "/src/b"), sharedKey("other", "/src/a"), sharedKey("", "/src/a")} {
		if other == k {
			t.Errorf("another directory or client must get another key")
		}
	}
	if first, second := sharedKey("", "/src/a"), sharedKey("", "/src/a"); first == second {
		t.Error("without a client ID each build must get a new key")
	}
}

// TestSessionDropsWhatTheIgnoreFileNowExcludes: a file an earlier build
// sent, excluded now, is gone from the engine's copy of the context.
func TestSessionDropsWhatTheIgnoreFileNowExcludes(t *testing.T) {
	f := &fakeDocker{}
	e := fakeEngine(t, f)
	req := enginetest.Request(t, map[string]string{"a.txt": "a", "b.txt": "b"}, enginetest.AMD64)
	req.ClientID = strings.Repeat("ab", 32)
	if _, err := e.Build(context.Background(), req); err != nil || !slices.Contains(f.files, "a.txt") {
		t.Fatalf("first build: %v, %v", f.files, err)
	}
	if err := os.WriteFile(filepath.Join(req.ContextDir, ".dockerignore"), []byte("a.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(f.sessions.keys) != 2 || f.sessions.keys[0] != f.sessions.keys[1] {
		t.Fatalf("a rebuild of one directory must reuse the engine's copy: keys %v", f.sessions.keys)
	}
	if slices.Contains(f.files, "a.txt") || !slices.Contains(f.files, "b.txt") {
		t.Errorf("a file excluded now must leave the engine's copy: %v", f.files)
	}
}

// TestSessionOffersOnlyTheContainerfile: a Containerfile outside the
// context works, and the engine gets nothing else of its directory, even
// when it asks for all of it.
func TestSessionOffersOnlyTheContainerfile(t *testing.T) {
	f := &fakeDocker{}
	e := fakeEngine(t, f)
	req := enginetest.Request(t, map[string]string{"app.txt": "app"}, enginetest.AMD64)
	home := t.TempDir()
	req.Containerfile = filepath.Join(home, "app.Containerfile")
	for name, data := range map[string]string{"app.Containerfile": "FROM scratch\nCOPY . /\n", "secret.txt": "x"} {
		if err := os.WriteFile(filepath.Join(home, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.sessions.dockerfile, ",") != sessionDockerfile {
		t.Errorf("the dockerfile local must hold the Containerfile alone: %v", f.sessions.dockerfile)
	}
	if slices.Contains(f.files, "secret.txt") {
		t.Errorf("the context got the Containerfile's neighbour: %v", f.files)
	}
	fsys := fileFS{path: req.Containerfile}
	if _, err := fsys.Open("../secret.txt"); err == nil {
		t.Error("fileFS opened another file")
	}
}

// TestSessionKeepsLinksModesAndEmptyDirs: links are sent as links (never
// followed out of the context), modes and empty directories are kept,
// and owners are root, as in the tar.
func TestSessionKeepsLinksModesAndEmptyDirs(t *testing.T) {
	f := &fakeDocker{}
	e := fakeEngine(t, f)
	req := enginetest.Request(t, map[string]string{"run.sh": "#!/bin/sh\n"}, enginetest.AMD64)
	outside := filepath.Join(t.TempDir(), "secret.txt")
	dir := req.ContextDir
	for _, err := range []error{
		os.WriteFile(outside, []byte("secret"), 0o600),
		os.Chmod(filepath.Join(dir, "run.sh"), 0o755),
		os.Symlink(outside, filepath.Join(dir, "out")),
		os.Symlink("run.sh", filepath.Join(dir, "in")),
		os.Mkdir(filepath.Join(dir, "empty"), 0o750),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 {
		if err := os.Lchown(filepath.Join(dir, "run.sh"), 1234, 1234); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(f.sessions.dir, f.sessions.keys[0])
	if link, err := os.Readlink(filepath.Join(got, "out")); err != nil || link != outside {
		t.Errorf("a link out of the context must stay a link: %q, %v", link, err)
	}
	if link, err := os.Readlink(filepath.Join(got, "in")); err != nil || link != "run.sh" {
		t.Errorf("a link inside the context must stay a link: %q, %v", link, err)
	}
	st, err := os.Stat(filepath.Join(got, "run.sh"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("run.sh: %v, %v", st, err)
	}
	if os.Getuid() == 0 {
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 0 || sys.Gid != 0 {
			t.Errorf("owners must be root, as in the tar: %d:%d", sys.Uid, sys.Gid)
		}
	}
	if st, err := os.Stat(filepath.Join(got, "empty")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
		t.Errorf("an empty directory must be kept with its mode: %v, %v", st, err)
	}
}

func TestBuildFallsBackToTheTarWithOneWarning(t *testing.T) {
	f := &fakeDocker{noSession: true}
	e := fakeEngine(t, f)
	req := enginetest.Request(t, map[string]string{"app.txt": "app", ".env": "SECRET=1", ".dockerignore": ".env\n"}, enginetest.AMD64, enginetest.ARM64)
	var logs logLines
	req.Log = logs.log
	if built, err := e.Build(context.Background(), req); err != nil || len(built) != 2 {
		t.Fatalf("a node without sessions must still build: %+v, %v", built, err)
	}
	if logs.count("warning: opening a BuildKit session") != 1 || logs.count("sent the build context (gzip tar)") != 2 {
		t.Errorf("one warning, then the tar for each platform: %q", logs.lines)
	}
	if slices.Contains(f.files, ".env") || !slices.Contains(f.files, "app.txt") {
		t.Errorf("the tar must leave out what .dockerignore excludes: %v", f.files)
	}
}

// TestNoOtherBuildsSecretCopies: the copies podman's bindings make of
// another build's --secret files in the same context directory reach a
// docker node neither through the session nor in the tar, whatever the
// ignore rules.
func TestNoOtherBuildsSecretCopies(t *testing.T) {
	for _, session := range []bool{true, false} {
		f := &fakeDocker{noSession: !session}
		e := fakeEngine(t, f)
		req := enginetest.Request(t, map[string]string{"app.txt": "app", "podman-build-secret-1234": "s3cr3t"}, enginetest.AMD64)
		req.ClientID = strings.Repeat("cd", 32)
		req.Excludes = []string{"nothing"}
		if _, err := e.Build(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(f.files, "podman-build-secret-1234") || !slices.Contains(f.files, "app.txt") {
			t.Errorf("session %v: another build's secret copy reached the node: %v", session, f.files)
		}
	}
}
