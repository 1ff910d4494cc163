package bake

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/farmbuild/farm/errdefs"
)

// File is a definition file's name (as the user named it, for messages
// and FileRelativePaths) and content.
type File struct {
	Name string
	Data []byte
}

// DefaultFiles are the files read when none is named, in buildx's
// lookup order: every one that exists is read, and later ones are laid
// over earlier ones. As in buildx, compose's own override files
// (compose.override.yaml...) are read only when named with -f.
var DefaultFiles = []string{
	"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml",
	"docker-bake.json", "docker-bake.hcl",
	"docker-bake.override.json", "docker-bake.override.hcl",
}

// maxFileSize bounds what ReadFiles reads of one file.
const maxFileSize = 16 << 20

// ReadFiles reads the named files (relative names from dir; "-" is
// stdin), or, with no names, every one of DefaultFiles that exists in dir.
func ReadFiles(dir string, names []string, stdin io.Reader) ([]File, error) {
	if len(names) == 0 {
		var out []File
		for _, n := range DefaultFiles {
			data, err := readFile(filepath.Join(dir, n))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, src{file: n}.errorf("%v", unwrapPath(err))
			}
			out = append(out, File{Name: n, Data: data})
		}
		if len(out) == 0 {
			return nil, &errdefs.FileError{Problem: fmt.Sprintf("no bake file in %s: looked for %s; name one with -f", dir, strings.Join(DefaultFiles, ", "))}
		}
		return out, nil
	}
	out := make([]File, 0, len(names))
	for _, n := range names {
		var data []byte
		var err error
		if n == "-" {
			data, err = io.ReadAll(io.LimitReader(stdin, maxFileSize+1))
			if err == nil && len(data) > maxFileSize {
				err = fmt.Errorf("larger than %d MiB", maxFileSize>>20)
			}
		} else {
			p := n
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			data, err = readFile(p)
		}
		if err != nil {
			return nil, src{file: n}.errorf("%v", unwrapPath(err))
		}
		out = append(out, File{Name: n, Data: data})
	}
	return out, nil
}

// readFile reads a regular file of at most maxFileSize bytes.
func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, errors.New("is a directory")
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", maxFileSize>>20)
	}
	return io.ReadAll(io.LimitReader(f, maxFileSize))
}

// unwrapPath drops the path a *fs.PathError repeats: the message names
// the file already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
