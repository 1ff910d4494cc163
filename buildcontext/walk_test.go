package buildcontext

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
)

// tree makes files (path -> content; a path ending in / is a directory,
// content "->TARGET" a symlink) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(p, "/"):
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(c, "->"):
			if err := os.Symlink(strings.TrimPrefix(c, "->"), full); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func snapshot(t *testing.T, root string, excludes ...string) (*Snapshot, []Entry) {
	t.Helper()
	s, err := New(Options{Dir: root, Containerfile: filepath.Join(root, "Containerfile"), Excludes: excludes, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	entries, err := s.Entries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, entries
}

func paths(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Path)
	}
	return out
}

func TestWalkAppliesTheIgnoreRulesAsTheBindingsDo(t *testing.T) {
	root := tree(t, map[string]string{
		"Containerfile": "FROM scratch\n", ".dockerignore": "*.key\n", "app.go": "package main\n",
		"id.key": "secret", "build/out.bin": "x", "build/keep.me": "kept", "docs/a.md": "a",
		"podman-build-secret-123": "another node's secret copy",
	})
	_, entries := snapshot(t, root, "*.key", "build", "!build/keep.me", "docs", ".dockerignore", "Containerfile")
	// The Containerfile and the ignore file are sent whatever the
	// patterns say; an excluded directory's exception is, without the
	// directory's own entry.
	want := []string{".dockerignore", "Containerfile", "app.go", "build/keep.me"}
	if got := paths(entries); !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
}

func TestWalkKeepsSymlinksModesEmptyDirsAndHardLinks(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := tree(t, map[string]string{
		"Containerfile": "FROM scratch\n", "bin/run": "#!/bin/sh\n", "empty/": "", "private": "p",
		"out": "->" + outside, "up": "->../x", "self": "->bin/run",
	})
	if err := os.Chmod(filepath.Join(root, "bin/run"), 0o755|fs.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "private"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "private"), filepath.Join(root, "same")); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2020, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "bin/run"), when, when); err != nil {
		t.Fatal(err)
	}
	_, entries := snapshot(t, root)
	by := map[string]Entry{}
	for _, e := range entries {
		by[e.Path] = e
	}
	if got := paths(entries); !slices.Equal(got, []string{"Containerfile", "bin", "bin/run", "empty", "out", "private", "same", "self", "up"}) {
		t.Fatalf("entries %v: a symlink to a directory must not be followed", got)
	}
	for path, target := range map[string]string{"out": outside, "up": "../x", "self": "bin/run"} {
		if e := by[path]; e.Kind != Symlink || e.Target != target {
			t.Errorf("%s: %+v, want a symlink to %s", path, e, target)
		}
	}
	if e := by["bin/run"]; e.Kind != File || e.Mode != 04755 || e.MTime != when.Round(time.Second).Unix() || e.Size != 10 {
		t.Errorf("bin/run: %+v, want mode 4755, mtime rounded up to %d", e, when.Round(time.Second).Unix())
	}
	if e := by["empty"]; e.Kind != Dir || e.Mode != 0o700 {
		t.Errorf("empty: %+v, want a 0700 directory", e)
	}
	if p, s := by["private"], by["same"]; p.Mode != 0o600 || p.LinkOf != -1 || s.LinkOf != slices.Index(paths(entries), "private") || s.Hash != p.Hash {
		t.Errorf("hard links: private %+v, same %+v", p, s)
	}
	if e := by["Containerfile"]; e.Hash != blake3.Sum256([]byte("FROM scratch\n")) {
		t.Errorf("the hash is not BLAKE3's")
	}
}

func TestKeyRoundTrip(t *testing.T) {
	e := Entry{Hash: blake3.Sum256([]byte("x")), Mode: 04755, MTime: 1700000000}
	k, err := ParseKey(e.Key())
	if err != nil || k.Hash != e.Hash || k.Mode != e.Mode || k.MTime != e.MTime {
		t.Fatalf("ParseKey(%s) = %+v, %v", e.Key(), k, err)
	}
	for _, bad := range []string{"", "x-1-2", e.Key() + "x", strings.ToUpper(e.Key()[:64]) + e.Key()[64:], e.Key()[:64] + "-9-1", e.Key()[:64] + "-17777-1", e.Key()[:64] + "-0644-1", e.Key()[:64] + "-644-+1", e.Key()[:64] + "-644-1 x"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted it", bad)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add(Entry{Mode: 0o644, MTime: 1}.Key())
	f.Add("ab-1-2")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		if again := (Entry{Hash: k.Hash, Mode: k.Mode, MTime: k.MTime}).Key(); again != s {
			t.Fatalf("ParseKey(%q) gave a key that prints as %q", s, again)
		}
		if strings.ContainsAny(s, " \t\n'\"\\/$`*?[") {
			t.Fatalf("a key with a character the node's scripts would not take: %q", s)
		}
	})
}
