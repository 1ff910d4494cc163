package nodecache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/farmbuild/farm/buildcontext"
)

// localNode runs the scripts as a node would, with /bin/sh or busybox's
// sh and only busybox's utilities, in a HOME of its own.
type localNode struct {
	shell []string
	env   []string
	home  string
	// cred, when set, runs the scripts as that user.
	cred *syscall.Credential
}

func (n localNode) Run(ctx context.Context, script string) ([]byte, error) {
	return n.RunInput(ctx, script, nil)
}

func (n localNode) RunInput(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	cmd := exec.CommandContext(ctx, n.shell[0], append(n.shell[1:], "-c", script)...)
	cmd.Env, cmd.Stdin = n.env, stdin
	if n.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: n.cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), errors.New(err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// cache is the node's cache directory.
func (n localNode) cache() string { return filepath.Join(n.home, ".cache", "farm", "context") }

// shells are the nodes the scripts are tried on.
func shells(t *testing.T) map[string]localNode {
	t.Helper()
	out := map[string]localNode{}
	home := t.TempDir()
	out["sh"] = localNode{shell: []string{"/bin/sh"}, home: home, env: []string{"HOME=" + home, "PATH=/usr/bin:/bin"}}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is needed to test the node scripts: %v", err)
	}
	bin := t.TempDir()
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if err := os.Symlink(bb, filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	home = t.TempDir()
	out["busybox"] = localNode{shell: []string{bb, "sh"}, home: home, env: []string{"HOME=" + home, "PATH=" + bin}}
	return out
}

// context makes a build context: files with their modes and times,
// symlinks, an empty directory, hard links, duplicates, an excluded
// directory with an exception.
func makeContext(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, content string, mode fs.FileMode) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("Containerfile", "FROM scratch\nCOPY . /\n", 0o644)
	write("bin/run", "#!/bin/sh\necho run\n", 0o755)
	write("private", "only me", 0o600)
	write("same-a", "duplicate", 0o644)
	write("same-b", "duplicate", 0o644)
	write("vendor/drop", "excluded", 0o644)
	write("vendor/keep/me", "the exception", 0o640)
	if err := os.Link(filepath.Join(root, "private"), filepath.Join(root, "private-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o711); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"passwd": "/etc/passwd", "up": "../../x", "bin/again": "run"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, p := range []string{"same-a", "same-b", "bin/run", "bin", "empty"} {
		if err := os.Chtimes(filepath.Join(root, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var excludes = []string{"vendor", "!vendor/keep/me"}

func snap(t *testing.T, root string, excl ...string) *buildcontext.Snapshot {
	t.Helper()
	s, err := buildcontext.New(buildcontext.Options{Dir: root, Containerfile: filepath.Join(root, "Containerfile"), Excludes: excl, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func nonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// file is what the engine sees of one path.
type file struct {
	kind    string
	mode    fs.FileMode
	mtime   int64
	content string
	inode   uint64
}

func scan(t *testing.T, root string) map[string]file {
	t.Helper()
	out := map[string]file{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f := file{mode: info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), mtime: info.ModTime().Round(time.Second).Unix()}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			f.kind = "symlink"
			f.content, _ = os.Readlink(p)
			f.mtime = 0 // not every tar restores a symlink's time
		case info.IsDir():
			f.kind = "dir"
			f.mtime = 0 // checked apart
		default:
			f.kind = "file"
			data, _ := os.ReadFile(p)
			f.content = string(data)
			f.inode = info.Sys().(*syscall.Stat_t).Ino
		}
		out[rel] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree compares the assembled context with the source, what the
// ignore rules leave out apart.
func sameTree(t *testing.T, src, got string, left []string) {
	t.Helper()
	want, have := scan(t, src), scan(t, got)
	for _, p := range left {
		delete(want, p)
	}
	// The excluded directory is not listed: podman makes it 0755.
	if v := want["vendor"]; v.kind == "dir" {
		v.mode = 0o755
		want["vendor"] = v
	}
	for p, w := range want {
		h, ok := have[p]
		if !ok {
			t.Errorf("%s is missing from the assembled context", p)
			continue
		}
		if w.kind != h.kind || w.mode != h.mode || w.mtime != h.mtime || w.content != h.content {
			t.Errorf("%s: assembled %+v, want %+v", p, h, w)
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			t.Errorf("%s is in the assembled context, not in the source", p)
		}
	}
	// Hard links stay hard links; files that are only equal stay apart.
	if _, both := want["private"]; both && have["private"].inode != have["private-link"].inode {
		t.Error("a hard link of the context is two files on the node")
	}
	if have["same-a"].inode == have["same-b"].inode {
		t.Error("two equal files of the context are one file on the node")
	}
}

func prepare(t *testing.T, n localNode, s *buildcontext.Snapshot, extras map[string][]byte) (Prepared, string) {
	t.Helper()
	id := nonce()
	p, err := Prepare(context.Background(), n, s, id, extras)
	if err != nil {
		t.Fatal(err)
	}
	return p, id
}

func finish(t *testing.T, n localNode, id string, lim Limits) {
	t.Helper()
	lim.Wait = true
	if err := Finish(context.Background(), n, id, lim); err != nil {
		t.Fatal(err)
	}
}

func TestPrepareSendsOnlyWhatTheNodeLacks(t *testing.T) {
	for name, n := range shells(t) {
		t.Run(name, func(t *testing.T) {
			root := makeContext(t)
			left := []string{"vendor/drop"}
			p, id := prepare(t, n, snap(t, root, excludes...), nil)
			if p.Files != 5 || p.Uploaded != p.Files || p.Containerfile != p.Context+"/Containerfile" {
				t.Errorf("cold: %+v, want 5 files, all sent", p)
			}
			sameTree(t, root, p.Context, left)
			if st, err := os.Stat(p.Context); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("the context directory: %v %v", st, err)
			}
			finish(t, n, id, DefaultLimits)
			if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
				t.Errorf("Finish left %s", p.Dir)
			}

			// Unchanged: nothing is sent.
			p, id = prepare(t, n, snap(t, root, excludes...), nil)
			if p.Uploaded != 0 {
				t.Errorf("unchanged: %d files sent", p.Uploaded)
			}
			sameTree(t, root, p.Context, left)
			finish(t, n, id, DefaultLimits)

			// One file changed, one only touched (same content, new time:
			// copied on the node), one excluded now: it never reaches the
			// context although the cache holds it.
			if err := os.WriteFile(filepath.Join(root, "bin/run"), []byte("#!/bin/sh\necho changed\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			later := time.Date(2022, 1, 1, 0, 0, 1, 0, time.UTC)
			if err := os.Chtimes(filepath.Join(root, "same-a"), later, later); err != nil {
				t.Fatal(err)
			}
			p, id = prepare(t, n, snap(t, root, append(excludes, "private")...), nil)
			if p.Uploaded != 1 {
				t.Errorf("one file changed: %d files sent, want 1", p.Uploaded)
			}
			sameTree(t, root, p.Context, append(left, "private"))
			finish(t, n, id, DefaultLimits)
		})
	}
}

func TestAnUploadCutShortIsNeverUsed(t *testing.T) {
	for name, n := range shells(t) {
		t.Run(name, func(t *testing.T) {
			root := makeContext(t)
			s := snap(t, root)
			id := nonce()
			ctx := context.Background()
			entries, _ := s.Entries(ctx)
			keys, _ := s.Keys()
			plan := planAssembly(entries, nil, nil)
			if _, err := n.RunInput(ctx, prepareScript(id), bytes.NewReader(lists(keys, plan.dups))); err != nil {
				t.Fatal(err)
			}
			lack := map[string]bool{}
			for _, k := range keys {
				lack[k] = true
			}
			var full bytes.Buffer
			if _, err := s.WriteMembers(ctx, &full, keys); err != nil {
				t.Fatal(err)
			}
			if err := plan.write(ctx, &full, s, lack); err != nil {
				t.Fatal(err)
			}
			// The files arrive, the end does not.
			cut := append([]byte(fmt.Sprintf("go %d\n", plan.total(lack))), full.Bytes()[:full.Len()-200]...)
			if _, err := n.RunInput(ctx, assembleScript(id), bytes.NewReader(cut)); err == nil {
				t.Fatal("a stream cut short was taken")
			}
			if blobs, _ := os.ReadDir(filepath.Join(n.cache(), "blobs")); len(blobs) != 0 {
				t.Errorf("a stream cut short left %d blobs in the cache", len(blobs))
			}
			finish(t, n, id, DefaultLimits)
			if builds, _ := os.ReadDir(filepath.Join(n.cache(), "builds")); len(builds) != 0 {
				t.Errorf("Finish left %v", builds)
			}
			p, id := prepare(t, n, s, nil)
			if p.Uploaded != p.Files {
				t.Errorf("after a stream cut short, %d of %d files sent", p.Uploaded, p.Files)
			}
			sameTree(t, root, p.Context, nil)
			finish(t, n, id, DefaultLimits)
		})
	}
}

func TestConcurrentBuildsSeeOnlyTheirOwnFiles(t *testing.T) {
	n := shells(t)["sh"]
	roots := []string{makeContext(t), t.TempDir()}
	if err := os.WriteFile(filepath.Join(roots[1], "Containerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(roots[1], "mine"), []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]Prepared, 2)
	for i, root := range roots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := Prepare(context.Background(), n, snap(t, root), nonce(), nil)
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sameTree(t, roots[0], got[0].Context, nil)
	if have := scan(t, got[1].Context); len(have) != 2 || have["mine"].content != "second" {
		t.Errorf("the second build's context: %v", have)
	}
}

func TestExtrasAreNeverCached(t *testing.T) {
	n := shells(t)["busybox"]
	root := makeContext(t)
	p, id := prepare(t, n, snap(t, root, excludes...), map[string][]byte{"farm-secret-1": []byte("s3cr3t")})
	st, err := os.Stat(filepath.Join(p.Context, "farm-secret-1"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the extra file: %v %v", st, err)
	}
	out, _ := exec.Command("grep", "-rl", "s3cr3t", filepath.Join(n.cache(), "blobs")).Output()
	if len(out) > 0 {
		t.Errorf("an extra file is in the cache: %s", out)
	}
	finish(t, n, id, DefaultLimits)
	if out, _ := exec.Command("grep", "-rl", "s3cr3t", n.cache()).Output(); len(out) > 0 {
		t.Errorf("an extra file outlived the build: %s", out)
	}
}

func TestFinishEvictsTheLeastRecentlyUsedBeyondTheBound(t *testing.T) {
	n := shells(t)["busybox"]
	big := func(name string) string {
		root := t.TempDir()
		data := make([]byte, 256<<10)
		_, _ = rand.Read(data)
		_ = os.WriteFile(filepath.Join(root, "Containerfile"), []byte("FROM scratch\n"+name), 0o644)
		_ = os.WriteFile(filepath.Join(root, name), data, 0o644)
		return root
	}
	first, second := big("first"), big("second")
	_, id := prepare(t, n, snap(t, first), nil)
	finish(t, n, id, DefaultLimits)
	time.Sleep(1100 * time.Millisecond) // ctimes a second apart, whatever ls compares
	_, id = prepare(t, n, snap(t, second), nil)
	finish(t, n, id, Limits{MaxAge: 24 * time.Hour, MaxBytes: 400 << 10})
	var kept int64
	blobs, _ := os.ReadDir(filepath.Join(n.cache(), "blobs"))
	for _, b := range blobs {
		info, _ := b.Info()
		kept += info.Size()
	}
	if kept > 400<<10 {
		t.Errorf("%d bytes of blobs left, more than the bound", kept)
	}
	// The most recently used stay; the first build's large file went.
	p, id := prepare(t, n, snap(t, second), nil)
	finish(t, n, id, DefaultLimits)
	if p.Uploaded != 0 {
		t.Errorf("the most recently used blobs were evicted: %d sent again", p.Uploaded)
	}
	if p, id = prepare(t, n, snap(t, first), nil); p.Uploaded == 0 {
		t.Error("nothing was evicted")
	}
	finish(t, n, id, DefaultLimits)
}

func TestPruneReportsAndEmpties(t *testing.T) {
	n := shells(t)["sh"]
	root := makeContext(t)
	_, id := prepare(t, n, snap(t, root), nil)
	finish(t, n, id, DefaultLimits)
	u, err := Prune(context.Background(), n, true)
	if err != nil || u.Blobs != 6 || u.Bytes <= 0 || u.FreedBytes != -1 {
		t.Fatalf("dry run: %+v %v", u, err)
	}
	if u, err = Prune(context.Background(), n, false); err != nil || u.Blobs != 6 || u.FreedBytes <= 0 {
		t.Fatalf("prune: %+v %v", u, err)
	}
	if blobs, _ := os.ReadDir(filepath.Join(n.cache(), "blobs")); len(blobs) != 0 {
		t.Errorf("prune left %d blobs", len(blobs))
	}
	empty := localNode{shell: n.shell, home: t.TempDir()}
	empty.env = []string{"HOME=" + empty.home, "PATH=/usr/bin:/bin"}
	if u, err := Prune(context.Background(), empty, false); err != nil || u != (Usage{}) {
		t.Errorf("a node without a cache: %+v %v", u, err)
	}
}

func TestPrepareFailsWhereTheCacheCannotBe(t *testing.T) {
	n := shells(t)["sh"]
	root := makeContext(t)
	noGzip := t.TempDir()
	for _, tool := range []string{"tar", "ln", "cp", "mv", "rm", "mkdir", "chmod", "touch", "find", "ls", "sort", "comm", "awk", "xargs", "du", "cut", "cat", "sh"} {
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		_ = os.Symlink(path, filepath.Join(noGzip, tool))
	}
	bare := n
	bare.env = []string{"HOME=" + n.home, "PATH=" + noGzip}
	if _, err := Prepare(context.Background(), bare, snap(t, root), nonce(), nil); err == nil || !strings.Contains(err.Error(), "gzip is missing") {
		t.Errorf("without gzip: %v", err)
	}
	readOnly := t.TempDir()
	if err := os.Chmod(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	ro := n
	ro.env = []string{"HOME=" + readOnly, "XDG_CACHE_HOME=" + readOnly + "/c", "PATH=/usr/bin:/bin"}
	if os.Geteuid() != 0 {
		if _, err := Prepare(context.Background(), ro, snap(t, root), nonce(), nil); err == nil {
			t.Error("a cache that cannot be written was used")
		}
	}
}

func TestAContainerfileOutsideTheContextGoesBesideIt(t *testing.T) {
	n := shells(t)["sh"]
	root := makeContext(t)
	cf := filepath.Join(t.TempDir(), "Other.cf")
	if err := os.WriteFile(cf, []byte("FROM scratch\nCOPY bin /bin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := buildcontext.New(buildcontext.Options{Dir: root, Containerfile: cf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, id := prepare(t, n, s, nil)
	defer finish(t, n, id, DefaultLimits)
	if p.Containerfile != p.Dir+"/cf/Other.cf" {
		t.Fatalf("Containerfile %s", p.Containerfile)
	}
	if data, err := os.ReadFile(p.Containerfile); err != nil || string(data) != "FROM scratch\nCOPY bin /bin\n" {
		t.Errorf("the Containerfile on the node: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(p.Context, "Other.cf")); !os.IsNotExist(err) {
		t.Errorf("the Containerfile went into the context: %v", err)
	}
}

// FuzzParsePrepared: whatever a node answers, farm takes only an
// absolute directory and keys of the context, each once.
func FuzzParsePrepared(f *testing.F) {
	key := (buildcontext.Entry{Mode: 0o644, MTime: 1}).Key()
	f.Add([]byte("/home/u/.cache/farm/context/builds/0123456789abcdef\n" + key + "\n"))
	f.Add([]byte("relative\n"))
	f.Add([]byte("/d\n" + key + "\n" + key + "\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		dir, lacking, err := parsePrepared(out, []string{key})
		if err != nil {
			return
		}
		if !strings.HasPrefix(dir, "/") || len(lacking) > 1 || (len(lacking) == 1 && lacking[0] != key) {
			t.Fatalf("parsePrepared(%q) = %q, %q", out, dir, lacking)
		}
	})
}

// TestFinishRemovesReadOnlyDirectories: a context holding a read-only
// directory leaves nothing on the node for a user who is not root (the
// scripts run as nobody when the test runs as root).
func TestFinishRemovesReadOnlyDirectories(t *testing.T) {
	n := shells(t)["sh"]
	if os.Getuid() == 0 {
		n.cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		if err := os.Chmod(filepath.Dir(n.home), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(n.home, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "Containerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "ro", "f"), []byte("read-only"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(root, "ro"), 0o755) })
	p, id := prepare(t, n, snap(t, root), nil)
	if have := scan(t, p.Context); have["ro"].mode&0o777 != 0o555 {
		t.Fatalf("the read-only directory was not assembled as it is: %+v", have["ro"])
	}
	finish(t, n, id, DefaultLimits)
	left, err := os.ReadDir(filepath.Join(n.cache(), "builds"))
	if err != nil || len(left) != 0 {
		t.Errorf("the build call's directory is still on the node: %v, %v", left, err)
	}
	for _, e := range left {
		_ = exec.Command("chmod", "-R", "u+rwx", filepath.Join(n.cache(), "builds", e.Name())).Run()
	}
}
