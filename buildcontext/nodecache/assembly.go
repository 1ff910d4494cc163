package nodecache

import (
	"archive/tar"
	"context"
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
// hard links to the blobs the call uses (k/KEY), to those it received
// (u/KEY) or to copies of them (d/N), so that an unchanged context sends
// nothing but metadata.
type assembly struct {
	// dups are the copies of blobs that several paths use without being
	// hard links of one another: all but the first path get a copy, so
	// that the engine does not see them as one file.
	dups []dup
	// entries are the context's entries, in order, with the outside
	// Containerfile and the extra files.
	entries []planned
	// count is the number of tar entries before the end marker, the
	// copies sent included.
	count int
}

type dup struct {
	n   int
	key string
}

// planned is one tar entry: a directory, a symlink, an extra file (data),
// or a file: a hard link to the first path of its inode (linkTo), a copy
// (dup >= 0), or the blob of key.
type planned struct {
	hdr    tar.Header
	data   []byte
	key    string
	linkTo string
	dup    int
}

// implicitDirMode is the mode podman gives a directory that the context
// tar does not list (an excluded directory with an exception inside).
const implicitDirMode = 0o755

// planAssembly plans the tar of a context: entries under ctx/, the
// Containerfile outside it under cf/, extras in ctx/ with mode 0600.
func planAssembly(entries []buildcontext.Entry, outside *buildcontext.Entry, extras map[string][]byte) assembly {
	var a assembly
	now := time.Now()
	dirs := map[string]bool{".": true}
	used := map[string]bool{}
	add := func(p planned) {
		p.hdr.Uid, p.hdr.Gid = 0, 0
		a.entries = append(a.entries, p)
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
		add(planned{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "ctx/" + dir + "/", Mode: implicitDirMode, ModTime: now}, dup: -1})
	}
	file := func(name string, e buildcontext.Entry, linkTo string) {
		p := planned{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, ModTime: time.Unix(e.MTime, 0)}, key: e.Key(), linkTo: linkTo, dup: -1}
		if linkTo == "" && used[p.key] {
			p.dup = len(a.dups)
			a.dups = append(a.dups, dup{n: p.dup, key: p.key})
		}
		used[p.key] = true
		add(p)
	}
	for _, e := range entries {
		parents(e.Path)
		name := "ctx/" + e.Path
		switch e.Kind {
		case buildcontext.Dir:
			dirs[e.Path] = true
			add(planned{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: e.Mode, ModTime: time.Unix(e.MTime, 0)}, dup: -1})
		case buildcontext.Symlink:
			add(planned{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.Target, Mode: e.Mode, ModTime: time.Unix(e.MTime, 0)}, dup: -1})
		case buildcontext.File:
			linkTo := ""
			if e.LinkOf >= 0 {
				linkTo = "ctx/" + entries[e.LinkOf].Path
			}
			file(name, e, linkTo)
		}
	}
	if outside != nil {
		add(planned{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "cf/", Mode: 0o700, ModTime: now}, dup: -1})
		file("cf/"+outside.Path, *outside, "")
	}
	names := make([]string, 0, len(extras))
	for n := range extras {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(planned{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "ctx/" + n, Mode: 0o600, Size: int64(len(extras[n])), ModTime: now}, data: extras[n], dup: -1})
	}
	a.count = len(a.entries)
	return a
}

// total is the number of tar entries before the end marker when the
// node lacks the keys of lack.
func (a assembly) total(lack map[string]bool) int {
	n := a.count
	for _, d := range a.dups {
		if lack[d.key] {
			n++
		}
	}
	return n
}

// write writes the rest of what assembleScript reads after the files the
// node lacked: the copies the node could not make (their key was
// lacking: their content is sent), the context, the end marker and the
// end of the archive, as one gzip member.
func (a assembly) write(ctx context.Context, w io.Writer, snap *buildcontext.Snapshot, lack map[string]bool) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, d := range a.dups {
		if !lack[d.key] {
			continue // prepareScript made it
		}
		pk, _ := buildcontext.ParseKey(d.key)
		e, _ := snap.Entry(d.key)
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "d/" + strconv.Itoa(d.n), Mode: pk.Mode, Size: e.Size, ModTime: time.Unix(pk.MTime, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := snap.CopyFile(ctx, tw, d.key); err != nil {
			return err
		}
	}
	for _, p := range a.entries {
		h := p.hdr
		if h.Typeflag == tar.TypeLink {
			switch {
			case p.linkTo != "":
				h.Linkname = p.linkTo
			case p.dup >= 0:
				h.Linkname = "d/" + strconv.Itoa(p.dup)
			case lack[p.key]:
				h.Linkname = buildcontext.UploadDir + "/" + p.key
			default:
				h.Linkname = "k/" + p.key
			}
		}
		if err := tw.WriteHeader(&h); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if _, err := tw.Write(p.data); err != nil {
			return err
		}
	}
	end := buildcontext.EndContent(a.total(lack))
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
