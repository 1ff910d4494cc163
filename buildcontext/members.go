package buildcontext

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
)

// The files a node lacks travel as tar entries named UploadDir/KEY, each
// compressed as a gzip member of its own: a concatenation of members is a
// valid multi-member gzip stream (gzip -dc reads it whole) of a tar
// stream without its end, so each file is compressed once per build
// however many nodes lack it, and the members are kept in the spool and
// concatenated for each node, followed by whatever the node's protocol
// adds and ends the archive with.

// UploadDir is the directory of the uploaded files' entries.
const UploadDir = "u"

// EndMarker is the name of the entry that ends a stream of tar entries
// for a node: a node that has it has the whole stream.
const EndMarker = "farm-end"

// EndContent is what the EndMarker entry holds after n entries.
func EndContent(n int) string { return EndMarker + " " + strconv.Itoa(n) + "\n" }

// smallMember bounds the files compressed in memory and appended to the
// spool's shared file; larger ones get a spool file of their own.
const smallMember = 1 << 20

// member is one file compressed for uploads.
type member struct {
	ready chan struct{}
	// own is the member's own spool file, or "" when it is in the shared
	// one at off.
	own    string
	off, n int64
	err    error
}

// spool keeps the compressed members of a build.
type spool struct {
	parent string
	max    int64

	mu      sync.Mutex
	dir     string
	shared  *os.File
	end     int64 // size of the shared file
	used    int64 // bytes reserved for members
	members map[string]*member
	closed  bool
}

// WriteMembers writes the members of the files keys name to w: the kept
// ones, compressing (and keeping, while the spool has room) those not
// compressed yet, up to one per CPU ahead of the writer. Every file is
// read again to be sent: one that no longer matches its key (changed
// since Entries) fails with ErrChanged. It returns the bytes written.
func (s *Snapshot) WriteMembers(ctx context.Context, w io.Writer, keys []string) (int64, error) {
	if _, err := s.Entries(ctx); err != nil {
		return 0, err
	}
	for _, k := range keys {
		if _, ok := s.Entry(k); !ok {
			return 0, fmt.Errorf("no file of the context has key %s", k)
		}
	}
	pctx, stop := context.WithCancel(ctx)
	var ahead errgroup.Group
	ahead.SetLimit(runtime.NumCPU())
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for _, k := range keys {
			if pctx.Err() != nil {
				return
			}
			ahead.Go(func() error {
				if pctx.Err() == nil {
					_, _ = s.kept(k)
				}
				return nil
			})
		}
	}()
	defer func() { stop(); <-fed; _ = ahead.Wait() }()
	cw := &countingWriter{w: w}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return cw.n, err
		}
		m, err := s.kept(k)
		if err == nil && m != nil {
			err = s.spool.copyTo(cw, m)
		} else if err == nil {
			e, _ := s.Entry(k)
			err = compressEntry(cw, s.path(e), e)
		}
		if err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

// kept returns the kept member of key, compressing it first if need be;
// nil when the spool keeps nothing more.
func (s *Snapshot) kept(key string) (*member, error) {
	e, _ := s.Entry(key)
	sp := s.spool
	sp.mu.Lock()
	if m, ok := sp.members[key]; ok {
		sp.mu.Unlock()
		<-m.ready
		return m, m.err
	}
	if sp.parent == "" || sp.closed || sp.used+e.Size > sp.max {
		sp.mu.Unlock()
		return nil, nil
	}
	if sp.dir == "" {
		err := os.MkdirAll(sp.parent, 0o700)
		dir := ""
		if err == nil {
			sweepSpools(sp.parent)
			dir, err = os.MkdirTemp(sp.parent, "context-")
		}
		if err == nil {
			sp.shared, err = os.Create(filepath.Join(dir, "members"))
		}
		if err != nil {
			sp.mu.Unlock()
			return nil, fmt.Errorf("spooling the build context: %w", err)
		}
		sp.dir = dir
	}
	m := &member{ready: make(chan struct{})}
	sp.members[key] = m
	sp.used += e.Size
	dir := sp.dir
	sp.mu.Unlock()
	defer close(m.ready)
	if e.Size <= smallMember {
		var b bytes.Buffer
		if m.err = compressEntry(&b, s.path(e), e); m.err == nil {
			m.off, m.n, m.err = sp.appendShared(b.Bytes())
		}
		return m, m.err
	}
	f, err := os.CreateTemp(dir, "member-")
	if err != nil {
		m.err = err
		return m, err
	}
	cw := &countingWriter{w: f}
	m.err = compressEntry(cw, s.path(e), e)
	if err := f.Close(); m.err == nil {
		m.err = err
	}
	m.own, m.n = f.Name(), cw.n
	return m, m.err
}

// staleSpool is the age past which a spool is taken for one that a build
// killed before its end left behind.
const staleSpool = 24 * time.Hour

// sweepSpools removes the spools in parent that builds left behind.
func sweepSpools(parent string) {
	old, _ := filepath.Glob(filepath.Join(parent, "context-*"))
	for _, dir := range old {
		if st, err := os.Stat(dir); err == nil && time.Since(st.ModTime()) > staleSpool {
			_ = os.RemoveAll(dir)
		}
	}
}

// appendShared adds a member to the shared file.
func (sp *spool) appendShared(b []byte) (int64, int64, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return 0, 0, errors.New("the build's spool is closed")
	}
	off := sp.end
	if _, err := sp.shared.WriteAt(b, off); err != nil {
		return 0, 0, fmt.Errorf("spooling the build context: %w", err)
	}
	sp.end += int64(len(b))
	return off, int64(len(b)), nil
}

// copyTo copies a kept member to w.
func (sp *spool) copyTo(w io.Writer, m *member) error {
	if m.own == "" {
		_, err := io.Copy(w, io.NewSectionReader(sp.shared, m.off, m.n))
		return err
	}
	f, err := os.Open(m.own)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// close removes the spool's files.
func (sp *spool) close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.closed = true
	if sp.dir == "" {
		return nil
	}
	sp.shared.Close()
	return os.RemoveAll(sp.dir)
}

// compressEntry writes the gzip member of a file's tar entry, named
// UploadDir/KEY, checking as it reads that the file still matches the entry.
func compressEntry(w io.Writer, path string, e Entry) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: UploadDir + "/" + e.Key(), Mode: e.Mode, Size: e.Size, ModTime: time.Unix(e.MTime, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if err := copyChecked(tw, f, e); err != nil {
		return err
	}
	// Flush pads the entry; Close would end the archive.
	if err := tw.Flush(); err != nil {
		return err
	}
	return gz.Close()
}

// CopyFile copies the content of the file key names to w, checking that
// it still matches the key.
func (s *Snapshot) CopyFile(ctx context.Context, w io.Writer, key string) error {
	if _, err := s.Entries(ctx); err != nil {
		return err
	}
	e, ok := s.Entry(key)
	if !ok {
		return fmt.Errorf("no file of the context has key %s", key)
	}
	f, err := os.Open(s.path(e))
	if err != nil {
		return err
	}
	defer f.Close()
	return copyChecked(w, f, e)
}

// copyChecked copies a file's content, failing with ErrChanged when it
// no longer matches its entry.
func copyChecked(w io.Writer, f io.Reader, e Entry) error {
	h := blake3.New()
	if _, err := io.CopyN(w, io.TeeReader(f, h), e.Size); errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", e.Path, ErrChanged)
	} else if err != nil {
		return err
	}
	var more [1]byte
	if n, _ := f.Read(more[:]); n > 0 || !bytes.Equal(h.Sum(nil), e.Hash[:]) {
		return fmt.Errorf("%s: %w", e.Path, ErrChanged)
	}
	return nil
}

// countingWriter counts what passes through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
