package docker

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/farmbuild/farm/buildcontext"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// What a BuildKit session offers the engine: the context and the
// Containerfile, as BuildKit's dockerfile frontend asks for them (its
// "context" and "dockerfile" locals). The engine may narrow what it gets
// with its own patterns, never widen it: the filters here come first.

const (
	localContext    = "context"
	localDockerfile = "dockerfile"
	// sessionDockerfile is the Containerfile's name in the "dockerfile"
	// local, whatever its name on the client.
	sessionDockerfile = "Dockerfile"
)

// contextFS is the build context directory as the session offers it: what
// the excludes match is left out before anything is listed, owners are
// root, extended attributes are dropped (as in the tar farm sends
// otherwise), and so are the copies podman makes of another build's
// secrets. Symlinks are sent as links, never followed.
func contextFS(dir string, excludes []string) (fsutil.FS, error) {
	root, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, err
	}
	// The copies podman's bindings make of --secret files in the context
	// directory (another build's, from the same directory) never go.
	excludes = append(slices.Clone(excludes), buildcontext.SecretCopies)
	filtered, err := fsutil.NewFilterFS(root, &fsutil.FilterOpt{ExcludePatterns: excludes, Map: asInTar})
	if err != nil {
		return nil, fmt.Errorf("ignore patterns: %w", err)
	}
	return filtered, nil
}

// asInTar gives a file the owner and attributes the context tar gives it.
func asInTar(_ string, st *fstypes.Stat) fsutil.MapResult {
	st.Uid, st.Gid, st.Xattrs = 0, 0, nil
	return fsutil.MapResultKeep
}

// fileFS offers one file, the Containerfile, as sessionDockerfile: the
// engine can read nothing else of the directory it is in (which may be
// the user's home).
type fileFS struct {
	path string
}

var _ fsutil.FS = fileFS{}

// Walk lists the one file, for the root or the file's own name.
func (f fileFS) Walk(ctx context.Context, target string, fn fs.WalkDirFunc) error {
	switch filepath.Clean("/" + target) {
	case "/", "/" + sessionDockerfile:
	default:
		return nil // nothing else exists
	}
	st, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("the Containerfile %s is not a regular file", f.path)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(sessionDockerfile, &fsutil.DirEntryInfo{Stat: &fstypes.Stat{
		Path: sessionDockerfile, Mode: uint32(st.Mode().Perm()), Size: st.Size(), ModTime: st.ModTime().UnixNano(),
	}}, nil)
}

// Open opens the one file.
func (f fileFS) Open(p string) (io.ReadCloser, error) {
	if filepath.Clean("/"+p) != "/"+sessionDockerfile {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return os.Open(f.path)
}
