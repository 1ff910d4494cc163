// Package buildcontext lists a build context on the client once per
// build, as podman's bindings would send it (the ignore rules applied,
// symlinks kept as links, empty directories kept), with each file's
// BLAKE3 hash, and compresses each file that a node lacks once per build
// whatever the number of nodes (see Snapshot.WriteMembers). It touches
// only the client's files: what a node does with the list is package
// buildcontext/nodecache's.
package buildcontext

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Kind is what an entry is.
type Kind uint8

// The kinds of entries a context holds; other files (sockets, devices,
// pipes) are left out, as podman's bindings leave them out.
const (
	File Kind = iota
	Dir
	Symlink
)

// Entry is one path of the context as the build sees it.
type Entry struct {
	// Path is slash-separated and relative to the context directory.
	Path string
	Kind Kind
	// Mode is the tar mode: the permission bits and the setuid, setgid
	// and sticky bits (04000, 02000, 01000).
	Mode int64
	// MTime is the modification time in seconds, rounded to the nearest
	// second as Go's archive/tar rounds it.
	MTime int64
	// Size is a file's size in bytes.
	Size int64
	// Hash is a file's BLAKE3-256 content hash.
	Hash [32]byte
	// Target is a symlink's target, as written (never followed).
	Target string
	// LinkOf is, for a file that is a hard link of an earlier entry, that
	// entry's index; -1 otherwise.
	LinkOf int
}

// Key names a file's content with its mode and modification time: a blob
// stored under it can be hard-linked into a context as it is. It is
// "HASH-MODE-MTIME", lower-case hex, octal and decimal.
func (e Entry) Key() string {
	return hex.EncodeToString(e.Hash[:]) + "-" + strconv.FormatInt(e.Mode, 8) + "-" + strconv.FormatInt(e.MTime, 10)
}

// ParsedKey is a Key taken apart.
type ParsedKey struct {
	Hash  [32]byte
	Mode  int64
	MTime int64
}

// ParseKey takes a key apart; it refuses anything Key would not make.
func ParseKey(key string) (ParsedKey, error) {
	var k ParsedKey
	h, rest, ok := strings.Cut(key, "-")
	m, t, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || len(h) != 64 || strings.ToLower(h) != h {
		return k, fmt.Errorf("bad context key %q", key)
	}
	if _, err := hex.Decode(k.Hash[:], []byte(h)); err != nil {
		return k, fmt.Errorf("bad context key %q", key)
	}
	var err error
	k.Mode, err = strconv.ParseInt(m, 8, 64)
	if err != nil || k.Mode < 0 || k.Mode > 07777 || strconv.FormatInt(k.Mode, 8) != m {
		return k, fmt.Errorf("bad context key %q: mode", key)
	}
	k.MTime, err = strconv.ParseInt(t, 10, 64)
	if err != nil || strconv.FormatInt(k.MTime, 10) != t {
		return k, fmt.Errorf("bad context key %q: time", key)
	}
	return k, nil
}

// tarMode is the tar mode of a file mode, as archive/tar.FileInfoHeader
// makes it.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 04000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 02000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 01000
	}
	return mode
}

// ErrChanged means a file changed between the time it was listed and the
// time it was read to be sent.
var ErrChanged = errors.New("the file changed during the build")
