package farm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/errdefs"
)

// containerfilePath finds the build's Containerfile: -f, else the
// context's Containerfile, else its Dockerfile.
func containerfilePath(opts BuildOptions) (string, error) {
	if cf := opts.Containerfile; cf != "" {
		if _, err := os.Stat(cf); err != nil {
			return "", fmt.Errorf("%w: Containerfile %s: %v", errdefs.ErrUsage, cf, errors.Unwrap(err))
		}
		return cf, nil
	}
	for _, name := range []string{"Containerfile", "Dockerfile"} {
		if _, err := os.Stat(filepath.Join(opts.ContextDir, name)); err == nil {
			return filepath.Join(opts.ContextDir, name), nil
		}
	}
	return "", fmt.Errorf("%w: no Containerfile or Dockerfile in %s: add one or pass -f FILE", errdefs.ErrUsage, opts.ContextDir)
}

// CheckContainerfile reads the build's Containerfile on the client and
// reports what the engines would refuse in it as "FILE:LINE: problem",
// an ErrUsage error, before any node is contacted. A Containerfile that
// can be read only once (-f /dev/stdin) is checked when the build reads
// it.
func CheckContainerfile(opts BuildOptions) error {
	if st, err := os.Stat(opts.ContextDir); err != nil || !st.IsDir() {
		return fmt.Errorf("%w: build context %q is not a directory", errdefs.ErrUsage, opts.ContextDir)
	}
	cf, err := containerfilePath(opts)
	if err != nil {
		return err
	}
	if st, err := os.Stat(cf); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	data, err := os.ReadFile(cf)
	if err != nil {
		return fmt.Errorf("%w: reading the Containerfile: %v", errdefs.ErrUsage, err)
	}
	return checkContainerfileData(cf, data)
}

func checkContainerfileData(path string, data []byte) error {
	var se *containerfile.SyntaxError
	if err := containerfile.Check(data); errors.As(err, &se) {
		if se.Line == 0 {
			return fmt.Errorf("%w: %s: %s", errdefs.ErrUsage, path, se.Problem)
		}
		return fmt.Errorf("%w: %s:%d: %s", errdefs.ErrUsage, path, se.Line, se.Problem)
	}
	return nil
}
