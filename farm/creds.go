package farm

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"go.podman.io/image/v5/docker/reference"

	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/errdefs"
)

// CredsAuthFile makes podman's --creds USER:PASSWORD the credential of the
// registries the build's Containerfile names in its FROM lines: it writes,
// into dir, an auth file holding it for each of them, and the client's own
// credentials (from opts.AuthFile) for each registry the build pushes to,
// and returns its path, to be the build's AuthFile. A node still gets only
// the entries of its FROM registries. A registry that is both is refused,
// as is a Containerfile naming no registry (--creds would reach none).
func CredsAuthFile(dir, creds string, opts BuildOptions) (string, error) {
	user, pass, ok := strings.Cut(creds, ":")
	if !ok || user == "" || pass == "" {
		return "", fmt.Errorf("%w: --creds: use USER:PASSWORD (farm does not ask for a password)", errdefs.ErrUsage)
	}
	cf, err := fromRegistries(opts)
	if err != nil {
		return "", err
	}
	auths := map[string]string{}
	for _, r := range cf {
		auths[r] = user + ":" + pass
	}
	if _, push := opts.Output.(Push); push {
		for _, t := range opts.Tags {
			named, err := reference.ParseNormalizedNamed(t)
			if err != nil {
				return "", fmt.Errorf("%w: tag %q: %v", errdefs.ErrUsage, t, err)
			}
			r := reference.Domain(named)
			if slices.Contains(cf, r) {
				return "", fmt.Errorf("%w: --creds: %s is a FROM registry and the one pushed to, which farm pushes to with your own login: run podman login %s instead of --creds", errdefs.ErrUsage, r, r)
			}
			c, err := Credentials(opts.AuthFile, r)
			if err != nil {
				return "", err
			}
			if c.IdentityToken != "" {
				return "", fmt.Errorf("%w: the credentials for %s are an identity token, which farm cannot forward yet: log in with a username and password", errdefs.ErrUsage, r)
			}
			if c.Username != "" {
				auths[r] = c.Username + ":" + c.Password
			}
		}
	}
	return writeAuthFile(dir, "creds-*.json", auths)
}

// fromRegistries returns the registries the build's FROM lines name. The
// Containerfile must be a file: one from a pipe can be read only once.
func fromRegistries(opts BuildOptions) ([]string, error) {
	path, err := containerfilePath(opts)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: --creds needs the Containerfile in a file, not %s: the registries it names are read before the build", errdefs.ErrUsage, path)
	}
	cf, err := containerfile.Read(path, opts.BuildArgs)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	regs := cf.Registries()
	if len(regs) == 0 {
		return nil, fmt.Errorf("%w: --creds: the FROM lines name no registry, and short names resolve on each node: name it, as in FROM docker.io/library/alpine", errdefs.ErrUsage)
	}
	return regs, nil
}
