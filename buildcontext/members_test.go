package buildcontext

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readUpload decodes an upload as a node does (gzip -dc | tar -x): the
// files by name, with their headers.
func readUpload(t *testing.T, data []byte) (map[string]string, map[string]*tar.Header) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data)) // multi-member, as gzip -dc
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files, headers := map[string]string{}, map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name], headers[h.Name] = string(b), h
	}
	return files, headers
}

// listed is a snapshot of opts, listed, closed when the test ends.
func listed(t *testing.T, opts Options) *Snapshot {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Entries(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func upload(t *testing.T, s *Snapshot, keys []string) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := s.WriteMembers(context.Background(), &b, keys)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(b.Len()) {
		t.Errorf("WriteUpload says %d bytes, wrote %d", n, b.Len())
	}
	return b.Bytes()
}

func TestUploadIsOneGzipMemberPerFile(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), smallMember/16+1) // a member of its own
	root := tree(t, map[string]string{"Containerfile": "FROM scratch\n", "a": "alpha", "big": string(big), "empty": ""})
	if err := os.Chmod(filepath.Join(root, "a"), 0o751); err != nil {
		t.Fatal(err)
	}
	s, entries := snapshot(t, root)
	keys, size := s.Keys()
	if len(keys) != 4 || size != int64(len("FROM scratch\n")+len("alpha")+len(big)) {
		t.Fatalf("keys %v, size %d", keys, size)
	}
	data := upload(t, s, keys)
	files, headers := readUpload(t, data)
	if len(files) != 4 {
		t.Errorf("%d files in the upload, want 4", len(files))
	}
	for _, e := range entries {
		h := headers[UploadDir+"/"+e.Key()]
		if h == nil || files[UploadDir+"/"+e.Key()] != map[string]string{"Containerfile": "FROM scratch\n", "a": "alpha", "big": string(big), "empty": ""}[e.Path] {
			t.Errorf("%s: not in the upload as %s", e.Path, e.Key())
			continue
		}
		if h.Mode != e.Mode || h.ModTime.Unix() != e.MTime || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: header %+v", e.Path, h)
		}
	}
	// Each file is a member of its own: a node's stream is the kept
	// members of what it lacks, concatenated.
	if members := bytes.Count(data, []byte{0x1f, 0x8b, 8}); members < 4 {
		t.Errorf("%d gzip members, want one per file", members)
	}
	part := upload(t, s, keys[1:2])
	if files, _ := readUpload(t, part); len(files) != 1 || files[UploadDir+"/"+keys[1]] == "" {
		t.Errorf("an upload of one file: %v", files)
	}
}

func TestUploadCompressesEachFileOncePerBuild(t *testing.T) {
	root := tree(t, map[string]string{"Containerfile": "FROM scratch\n", "a": "alpha"})
	s, _ := snapshot(t, root)
	keys, _ := s.Keys()
	first := upload(t, s, keys)
	// The second node gets the kept members: the file is not read again.
	if err := os.Remove(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	if second := upload(t, s, keys); !bytes.Equal(first, second) {
		t.Error("the second upload differs from the first")
	}
	dir := s.spool.dir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("no spool: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Close left the spool %s: %v", dir, err)
	}
}

func TestUploadRefusesAFileChangedSinceItWasListed(t *testing.T) {
	root := tree(t, map[string]string{"Containerfile": "FROM scratch\n", "a": "alpha"})
	for _, spoolMax := range []int64{0, 1} { // kept, and compressed for each node
		s, err := New(Options{Dir: root, Containerfile: filepath.Join(root, "Containerfile"), SpoolDir: t.TempDir(), SpoolMax: spoolMax})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Entries(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "a"), []byte("omega"), 0o644); err != nil {
			t.Fatal(err)
		}
		keys, _ := s.Keys()
		if _, err := s.WriteMembers(context.Background(), io.Discard, keys); !errors.Is(err, ErrChanged) {
			t.Errorf("spool bound %d: a file changed since it was listed: %v, want ErrChanged", spoolMax, err)
		}
		s.Close()
		_ = os.WriteFile(filepath.Join(root, "a"), []byte("alpha"), 0o644)
	}
}

func TestUploadWithoutRoomInTheSpool(t *testing.T) {
	root := tree(t, map[string]string{"Containerfile": "FROM scratch\n", "a": "alpha"})
	s := listed(t, Options{Dir: root, Containerfile: filepath.Join(root, "Containerfile"), SpoolDir: t.TempDir(), SpoolMax: 1})
	keys, _ := s.Keys()
	if files, _ := readUpload(t, upload(t, s, keys)); len(files) != 2 {
		t.Errorf("upload without a spool: %v", files)
	}
	if s.spool.dir != "" {
		t.Error("a spool bound of 1 byte kept something")
	}
}

func TestContainerfileOutsideTheContext(t *testing.T) {
	root := tree(t, map[string]string{"a": "alpha"})
	cf := filepath.Join(t.TempDir(), "Build.cf")
	if err := os.WriteFile(cf, []byte("FROM scratch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Dir: root, Containerfile: cf})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, in := s.ContainerfileInContext(); in {
		t.Fatal("the Containerfile is outside")
	}
	if _, err := s.Entries(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := s.Outside(); o == nil || o.Path != "Build.cf" || o.Mode != 0o600 {
		t.Fatalf("Outside() = %+v", o)
	}
	keys, _ := s.Keys()
	if files, _ := readUpload(t, upload(t, s, keys)); files[UploadDir+"/"+s.Outside().Key()] != "FROM scratch\n" {
		t.Errorf("the Containerfile is not in the upload: %v", files)
	}
}

func FuzzUpload(f *testing.F) {
	f.Add([]byte("hello"), []byte(""), uint16(0o644))
	f.Add(bytes.Repeat([]byte{0}, 1025), []byte("x"), uint16(0o7777))
	f.Fuzz(func(t *testing.T, a, b []byte, mode uint16) {
		root := t.TempDir()
		for name, data := range map[string][]byte{"Containerfile": a, "b": b} {
			if err := os.WriteFile(filepath.Join(root, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(filepath.Join(root, "b"), os.FileMode(mode&0o777)); err != nil {
			t.Fatal(err)
		}
		s, err := New(Options{Dir: root, Containerfile: filepath.Join(root, "Containerfile"), SpoolDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		entries, err := s.Entries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := s.Keys()
		files, headers := readUpload(t, upload(t, s, keys))
		for _, e := range entries {
			want := map[string][]byte{"Containerfile": a, "b": b}[e.Path]
			name := UploadDir + "/" + e.Key()
			if files[name] != string(want) || headers[name].Mode != e.Mode {
				t.Fatalf("%s: the upload holds %q, want %q", e.Path, files[name], want)
			}
		}
		if len(files) != len(keys) {
			t.Fatalf("%d files for %d keys", len(files), len(keys))
		}
	})
}

func TestASpoolLeftBehindIsSwept(t *testing.T) {
	parent := t.TempDir()
	stale, fresh := filepath.Join(parent, "context-stale"), filepath.Join(parent, "context-fresh")
	for _, d := range []string{stale, fresh} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	root := tree(t, map[string]string{"Containerfile": "FROM scratch\n"})
	s := listed(t, Options{Dir: root, Containerfile: filepath.Join(root, "Containerfile"), SpoolDir: parent})
	keys, _ := s.Keys()
	upload(t, s, keys)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a day-old spool was left: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("another build's spool was removed: %v", err)
	}
}
