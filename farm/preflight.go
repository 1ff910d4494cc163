package farm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"

	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
)

// Preflight checks what can be checked of a build before any node is
// contacted: every tag parses, a push names a registry, and every registry
// pushed to accepts the client's credentials and is spoken to as it
// speaks. Each problem is an ErrUsage error saying what to do; a registry
// that cannot be asked is only warned about.
func Preflight(ctx context.Context, opts BuildOptions) error {
	registries := []string{}
	seen := map[string]bool{}
	for _, t := range opts.Tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return fmt.Errorf("%w: tag %q: %v: use [registry/]repository[:tag], in lowercase", errdefs.ErrUsage, t, err)
		}
		if _, push := opts.Output.(Push); !push {
			continue
		}
		if !containerfile.FullyQualified(t) {
			return fmt.Errorf("%w: --push -t %s names no registry (it would go to %s): give the registry, as in registry.example/%s", errdefs.ErrUsage, t, reference.Domain(named), reference.FamiliarName(named))
		}
		if r := reference.Domain(named); !seen[r] {
			seen[r] = true
			registries = append(registries, r)
		}
	}
	for _, r := range registries {
		if err := checkRegistry(ctx, r, opts); err != nil {
			return err
		}
	}
	return nil
}

// checkRegistry asks the registry's /v2/ endpoint whether it takes the
// client's credentials for it, and how it is spoken to.
func checkRegistry(ctx context.Context, registry string, opts BuildOptions) error {
	c, err := Credentials(opts.AuthFile, registry)
	if err != nil {
		return fmt.Errorf("%w: %v", errdefs.ErrUsage, err)
	}
	if c.IdentityToken != "" {
		return fmt.Errorf("%w: the credentials for %s are an identity token, which farm cannot forward yet: log in with a username and password", errdefs.ErrUsage, registry)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = docker.CheckAuth(ctx, clientSystem(opts), c.Username, c.Password, registry)
	var denied docker.ErrUnauthorizedForCredentials
	switch {
	case err == nil:
		return nil
	case errors.As(err, &denied) && c.Username == "":
		return fmt.Errorf("%w: registry %s needs a login: run podman login %s (or pass --authfile)", errdefs.ErrUsage, registry, registry)
	case errors.As(err, &denied):
		return fmt.Errorf("%w: registry %s refused the credentials of %s: log in again with podman login %s", errdefs.ErrUsage, registry, c.Username, registry)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w: registry %s speaks plain HTTP: add --tls-verify=false", errdefs.ErrUsage, registry)
	}
	// A registry that is down now may be back by the time the images are
	// built, and one behind a proxy may answer /v2/ oddly and still take
	// pushes: the push itself decides (exit 4).
	if opts.Logger != nil {
		opts.Logger.Warn("could not check the registry before building", "registry", registry, "error", err)
	}
	return nil
}

// checkFlags refuses, before anything is built, a flag that a node able
// to build one of the platforms cannot honour (its driver is an
// engine.FlagChecker): an ErrUsage error naming the flag and the node.
// Every capable node is asked, not only those the plan picked, so the
// answer does not depend on scheduling, and a platform rescheduled after
// a node died lands where the flags hold.
func checkFlags(nodes []*Node, platforms []ocispec.Platform, in engine.Instructions) error {
	if len(in.Flags()) == 0 {
		return nil
	}
	for _, n := range nodes {
		c, ok := n.Builder.(engine.FlagChecker)
		if !ok || !canBuildAny(n, platforms) {
			continue
		}
		if rs := c.Unsupported(n.Info, in); len(rs) > 0 {
			return fmt.Errorf("%w: %s", errdefs.ErrUsage, rs[0].Message(n.Info.Kind, n.Name))
		}
	}
	return nil
}

// canBuildAny reports whether the node builds one of the platforms,
// natively or emulated; every node may build when none is named.
func canBuildAny(n *Node, platforms []ocispec.Platform) bool {
	if len(platforms) == 0 {
		return true
	}
	for _, p := range platforms {
		if platform.Satisfies(n.Info.Native, p) {
			return true
		}
		for _, e := range n.Emulated {
			if platform.Satisfies(e, p) {
				return true
			}
		}
	}
	return false
}
