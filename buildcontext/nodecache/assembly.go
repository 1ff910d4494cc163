package nodecache

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/farmbuild/farm/buildcontext"
)

// assembly is how a node makes a context from its cache: a tar of the
// context's directories and symlinks as they are, and of its files as
// hard links to the call's blobs (k/KEY) or to copies of them (d/N), so
// that nothing but metadata crosses the network.
type assembly struct {
	// dups are the copies to make first: a blob that several paths use
	// without being hard links of one another is copied for all but the
	// first, so that the engine does not see them as one file.
	dups []dup
	// headers are the tar entries, with the content of the extra files.
	headers []*tar.Header
	content map[int][]byte
	// count is the number of entries before the end marker.
	count int
}

type dup struct {
	n   int
	key string
}

// implicitDirMode is the mode podman gives a directory that the context
// tar does not list (an excluded directory with an exception inside).
const implicitDirMode = 0o755

// planAssembly plans the tar of a context: entries under ctx/, the
// Containerfile outside it under cf/, extras in ctx/ with mode 0600.
func planAssembly(entries []buildcontext.Entry, outside *buildcontext.Entry, extras map[string][]byte) assembly {
	var a assembly
	a.content = map[int][]byte{}
	now := time.Now()
	dirs := map[string]bool{".": true}
	used := map[string]bool{}
	add := func(h *tar.Header) {
		h.Uid, h.Gid = 0, 0
		a.headers = append(a.headers, h)
	}
	// parents adds the directories a path needs that the context does not
	// list.
	var parents func(p string)
	parents = func(p string) {
		dir := path.Dir(p)
		if dirs[dir] {
			return
		}
		parents(dir)
		dirs[dir] = true
		add(&tar.Header{Typeflag: tar.TypeDir, Name: "ctx/" + dir + "/", Mode: implicitDirMode, ModTime: now})
	}
	for _, e := range entries {
		parents(e.Path)
		name := "ctx/" + e.Path
		switch e.Kind {
		case buildcontext.Dir:
			dirs[e.Path] = true
			add(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: e.Mode, ModTime: time.Unix(e.MTime, 0)})
		case buildcontext.Symlink:
			add(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.Target, Mode: e.Mode, ModTime: time.Unix(e.MTime, 0)})
		case buildcontext.File:
			var target string
			switch key := e.Key(); {
			case e.LinkOf >= 0:
				target = "ctx/" + entries[e.LinkOf].Path
			case !used[key]:
				used[key], target = true, "k/"+key
			default:
				d := dup{n: len(a.dups), key: key}
				a.dups = append(a.dups, d)
				target = "d/" + strconv.Itoa(d.n)
			}
			add(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: time.Unix(e.MTime, 0)})
		}
	}
	if outside != nil {
		add(&tar.Header{Typeflag: tar.TypeDir, Name: "cf/", Mode: 0o700, ModTime: now})
		add(&tar.Header{Typeflag: tar.TypeLink, Name: "cf/" + outside.Path, Linkname: "k/" + outside.Key(), ModTime: time.Unix(outside.MTime, 0)})
	}
	names := make([]string, 0, len(extras))
	for n := range extras {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a.content[len(a.headers)] = extras[n]
		add(&tar.Header{Typeflag: tar.TypeReg, Name: "ctx/" + n, Mode: 0o600, Size: int64(len(extras[n])), ModTime: now})
	}
	a.count = len(a.headers)
	return a
}

// reader streams what assembleScript reads: the dups, then the gzipped
// tar ending with the end marker.
func (a assembly) reader() io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(a.write(pw)) }()
	return pr
}

func (a assembly) write(w io.Writer) error {
	for _, d := range a.dups {
		if _, err := fmt.Fprintf(w, "%d %s\n", d.n, d.key); err != nil {
			return err
		}
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for i, h := range a.headers {
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if c, ok := a.content[i]; ok {
			if _, err := tw.Write(c); err != nil {
				return err
			}
		}
	}
	end := buildcontext.EndContent(a.count)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: buildcontext.EndMarker, Mode: 0o600, Size: int64(len(end)), ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, end); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
