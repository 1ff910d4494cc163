package buildcontext

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/zeebo/blake3"
	"go.podman.io/storage/pkg/fileutils"
	"golang.org/x/sync/errgroup"
)

// alwaysSent are the patterns podman's bindings add after the build's
// own, so that the Containerfile and the ignore files always reach the
// engine (images.prepareContainerFiles).
var alwaysSent = []string{"!Dockerfile", "!Containerfile", "!.dockerignore", "!.containerignore"}

// SecretCopies matches the copies podman's bindings make of --secret
// files in the context directory while they send it: a build to another
// node from the same directory can be making some.
const SecretCopies = "podman-build-secret-*"

// patternsFor are the patterns the bindings apply to a context: the
// build's excludes and the secret copies, then the exceptions for the
// Containerfile (rel, its path in the context, "" when it is outside) and
// the ignore files.
func patternsFor(excludes []string, rel string) []string {
	out := append(append(append([]string{}, excludes...), SecretCopies), alwaysSent...)
	if rel != "" {
		out = append(out, "!"+rel, "!"+rel+".dockerignore", "!"+rel+".containerignore")
	}
	return out
}

// walk lists the context directory root as podman's bindings tar it
// (images.nTar): in lexical order, every path the patterns do not
// exclude (an excluded directory's contents are still visited, for the
// exceptions), regular files, directories and symlinks only, symlinks
// never followed, hard links within the context noted. The root itself is
// not an entry. Hashes are not computed here.
func walk(root string, patterns []string) ([]Entry, error) {
	pm, err := fileutils.NewPatternMatcher(patterns)
	if err != nil {
		return nil, fmt.Errorf("the ignore patterns: %w", err)
	}
	type devino struct{ dev, ino uint64 }
	seen := map[devino]int{}
	var out []Entry
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		name := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		//lint:ignore SA1019 the bindings decide with Matches: farm must exclude exactly what they do
		excluded, err := pm.Matches(name)
		if err != nil {
			return fmt.Errorf("checking if %q is excluded: %w", name, err)
		}
		if excluded {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Path: name, Mode: tarMode(info.Mode()), MTime: info.ModTime().Round(time.Second).Unix(), LinkOf: -1}
		switch {
		case info.Mode().IsRegular():
			e.Kind, e.Size = File, info.Size()
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				di := devino{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev's type differs between architectures
				if first, ok := seen[di]; ok {
					e.LinkOf = first
				} else {
					seen[di] = len(out)
				}
			}
		case info.IsDir():
			e.Kind = Dir
		case info.Mode()&fs.ModeSymlink != 0:
			e.Kind = Symlink
			if e.Target, err = os.Readlink(path); err != nil {
				return err
			}
		default:
			return nil
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// hashAll fills in the files' hashes, reading up to one file per CPU at
// a time; a hard link takes its first path's hash.
func hashAll(ctx context.Context, root string, entries []Entry) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i := range entries {
		if entries[i].Kind != File || entries[i].LinkOf >= 0 {
			continue
		}
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			sum, size, err := hashFile(filepath.Join(root, filepath.FromSlash(entries[i].Path)))
			if err != nil {
				return err
			}
			if size != entries[i].Size {
				return fmt.Errorf("%s: %w", entries[i].Path, ErrChanged)
			}
			entries[i].Hash = sum
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range entries {
		if entries[i].LinkOf >= 0 {
			entries[i].Hash = entries[entries[i].LinkOf].Hash
		}
	}
	return nil
}

// hashFile returns a file's BLAKE3-256 hash and its size.
func hashFile(path string) ([32]byte, int64, error) {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := blake3.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return sum, n, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}
