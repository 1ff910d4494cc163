package docker

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/farmbuild/farm/buildcontext"
	"github.com/moby/patternmatcher"
)

// externalContainerfile is the name a Containerfile from outside the
// context gets inside the context tar.
const externalContainerfile = ".farm-Containerfile"

// contextTar streams the build context as a gzip tar, leaving out what the
// excludes (or the context's .containerignore/.dockerignore) match, and
// returns the Containerfile's name inside the tar.
func contextTar(dir, containerfile string, excludes []string) (io.ReadCloser, string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	if excludes == nil {
		if excludes, err = readIgnore(dir); err != nil {
			return nil, "", err
		}
	}
	// Never the copies podman's bindings make of another build's --secret
	// files in the same directory.
	pm, err := patternmatcher.New(append(slices.Clone(excludes), buildcontext.SecretCopies))
	if err != nil {
		return nil, "", fmt.Errorf("ignore patterns: %w", err)
	}
	cf, err := filepath.Abs(containerfile)
	if err != nil {
		return nil, "", err
	}
	name, err := filepath.Rel(dir, cf)
	inside := err == nil && !strings.HasPrefix(name, "..")
	if !inside {
		name = externalContainerfile
	}
	pr, pw := io.Pipe()
	go func() {
		gz := gzip.NewWriter(pw)
		tw := tar.NewWriter(gz)
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if rel == "." {
				return nil
			}
			rel = filepath.ToSlash(rel)
			if skip, _ := pm.MatchesOrParentMatches(rel); skip && rel != filepath.ToSlash(name) {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
			return addFile(tw, path, rel)
		})
		if err == nil && !inside {
			err = addFile(tw, cf, externalContainerfile)
		}
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = gz.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, filepath.ToSlash(name), nil
}

func addFile(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = name
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// readIgnore reads the context's .containerignore, else .dockerignore.
func readIgnore(dir string) ([]string, error) {
	for _, name := range []string{".containerignore", ".dockerignore"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return out, sc.Err()
	}
	return nil, nil
}
