package buildcontext

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Snapshot is one build's context: listed and hashed once, on first use,
// whatever the number of nodes, and the compressed files the nodes lack,
// kept until Close. It is safe for concurrent use.
type Snapshot struct {
	opts Options
	// root is the context directory, absolute, symlinks resolved;
	// containerfile the Containerfile, absolute.
	root, containerfile string

	// life ends with Close; listed is closed once the listing is done.
	life   context.Context
	end    context.CancelFunc
	once   sync.Once
	listed chan struct{}

	entries []Entry
	outside *Entry
	byKey   map[string]int
	err     error

	spool *spool
}

// Options describe a Snapshot.
type Options struct {
	// Dir is the context directory.
	Dir string
	// Containerfile is the build's Containerfile, in the context or not.
	Containerfile string
	// Excludes are the build's ignore patterns, as package containerfile
	// reads them; the bindings' own exceptions are added.
	Excludes []string
	// SpoolDir is where the compressed files are kept during the build (a
	// directory of its own is made in it and removed by Close); "" keeps
	// none: each node's files are compressed for it.
	SpoolDir string
	// SpoolMax bounds the compressed files kept; beyond it files are
	// compressed for each node that needs them. Zero means DefaultSpoolMax.
	SpoolMax int64
}

// DefaultSpoolMax bounds the compressed files a build keeps on the client.
const DefaultSpoolMax = 2 << 30

// New describes the context of a build; nothing is read until Entries.
func New(opts Options) (*Snapshot, error) {
	root, err := filepath.Abs(opts.Dir)
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return nil, fmt.Errorf("the build context: %w", err)
	}
	cf, err := filepath.Abs(opts.Containerfile)
	if err != nil {
		return nil, fmt.Errorf("the Containerfile: %w", err)
	}
	// As the bindings do: the Containerfile's directory with its symlinks
	// resolved decides whether it is in the context.
	if dir, err := filepath.EvalSymlinks(filepath.Dir(cf)); err == nil {
		cf = filepath.Join(dir, filepath.Base(cf))
	}
	if opts.SpoolMax == 0 {
		opts.SpoolMax = DefaultSpoolMax
	}
	s := &Snapshot{opts: opts, root: root, containerfile: cf, listed: make(chan struct{})}
	s.life, s.end = context.WithCancel(context.Background())
	s.spool = &spool{parent: opts.SpoolDir, max: opts.SpoolMax, members: map[string]*member{}}
	return s, nil
}

// ContainerfileInContext returns the Containerfile's slash-separated path
// in the context, or false when it lies outside.
func (s *Snapshot) ContainerfileInContext() (string, bool) {
	rel, ok := strings.CutPrefix(s.containerfile, s.root+string(filepath.Separator))
	return filepath.ToSlash(rel), ok
}

// Entries lists the context (once, for every caller; later calls return
// the same list): the entries in the order the bindings send them, with
// their hashes. The listing goes on, for the others, when ctx ends first;
// Close stops it.
func (s *Snapshot) Entries(ctx context.Context) ([]Entry, error) {
	s.once.Do(func() { go s.list() })
	select {
	case <-s.listed:
		return s.entries, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// list lists the context and its hashes.
func (s *Snapshot) list() {
	defer close(s.listed)
	rel, _ := s.ContainerfileInContext()
	s.entries, s.err = walk(s.root, patternsFor(s.opts.Excludes, rel))
	if s.err == nil {
		s.err = hashAll(s.life, s.root, s.entries)
	}
	if s.err == nil {
		s.err = s.listOutside()
	}
	if s.err != nil {
		s.entries, s.err = nil, fmt.Errorf("listing the build context %s: %w", s.root, s.err)
		return
	}
	s.byKey = map[string]int{}
	for i, e := range s.entries {
		if e.Kind == File {
			if _, ok := s.byKey[e.Key()]; !ok {
				s.byKey[e.Key()] = i
			}
		}
	}
}

// listOutside lists a Containerfile outside the context, which a node
// gets beside it.
func (s *Snapshot) listOutside() error {
	if _, in := s.ContainerfileInContext(); in {
		return nil
	}
	st, err := os.Stat(s.containerfile)
	if err != nil {
		return err
	}
	sum, size, err := hashFile(s.containerfile)
	if err != nil {
		return err
	}
	s.outside = &Entry{Path: filepath.Base(s.containerfile), Kind: File, Mode: tarMode(st.Mode()),
		MTime: st.ModTime().Round(time.Second).Unix(), Size: size, Hash: sum, LinkOf: -1}
	return nil
}

// Keys returns the keys of the context's files (the Containerfile's too
// when it lies outside), each once, in the order of the entries, and
// their total size. Valid after Entries.
func (s *Snapshot) Keys() ([]string, int64) {
	var keys []string
	var size int64
	seen := map[string]bool{}
	all := s.entries
	if s.outside != nil {
		all = append(all[:len(all):len(all)], *s.outside)
	}
	for _, e := range all {
		if e.Kind != File || seen[e.Key()] {
			continue
		}
		seen[e.Key()] = true
		keys = append(keys, e.Key())
		size += e.Size
	}
	return keys, size
}

// Outside is the Containerfile when it lies outside the context (its Path
// is its base name), else nil. Valid after Entries.
func (s *Snapshot) Outside() *Entry { return s.outside }

// Close stops a listing under way and removes the compressed files kept
// for the build.
func (s *Snapshot) Close() error {
	s.end()
	return s.spool.close()
}

// path is where an entry's file is on the client.
func (s *Snapshot) path(e Entry) string {
	if s.outside != nil && e == *s.outside {
		return s.containerfile
	}
	return filepath.Join(s.root, filepath.FromSlash(e.Path))
}

// Entry finds the file a key names (after Entries).
func (s *Snapshot) Entry(key string) (Entry, bool) {
	if s.outside != nil && s.outside.Key() == key {
		return *s.outside, true
	}
	i, ok := s.byKey[key]
	if !ok {
		return Entry{}, false
	}
	return s.entries[i], true
}
