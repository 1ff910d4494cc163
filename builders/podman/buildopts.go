package podman

import (
	"fmt"
	"strings"
	"time"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"go.podman.io/image/v5/docker/reference"
	imagetypes "go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/engine"
)

// Podman's own defaults for pulls that fail (containers.conf's retry and
// retry_delay): the bindings always send both, so farm sends these unless
// the build says otherwise.
const (
	defaultRetry      = 3
	defaultRetryDelay = 2 * time.Second
)

// runOptions sets what the RUN steps get (resources, namespaces, security)
// and what the images get beyond buildOptions' basics: the flags podman
// takes that farm passes through. marker is the extra host entry that
// marks the call's containers.
func runOptions(opts *types.BuildOptions, in engine.Instructions, marker string) error {
	c := &define.CommonBuildOptions{
		Secrets: in.Secrets, AddHost: append([]string{marker}, in.AddHosts...),
		Ulimit: in.Ulimits, Memory: in.Memory, MemorySwap: in.MemorySwap,
		CPUQuota: in.CPUQuota, CPUSetCPUs: in.CPUSetCPUs, CPUSetMems: in.CPUSetMems, CgroupParent: in.CgroupParent,
		DNSServers: in.DNSServers, DNSOptions: in.DNSOptions, DNSSearch: in.DNSSearch, Volumes: in.Volumes,
	}
	if in.CPUShares < 0 || in.CPUPeriod < 0 {
		return fmt.Errorf("--cpu-shares and --cpu-period cannot be negative")
	}
	c.CPUShares, c.CPUPeriod = uint64(in.CPUShares), uint64(in.CPUPeriod)
	if in.ShmSize > 0 {
		c.ShmSize = fmt.Sprint(in.ShmSize)
	}
	if in.IdentityLabel != nil {
		c.IdentityLabel = imagetypes.NewOptionalBool(*in.IdentityLabel)
	}
	for _, o := range in.SecurityOpts {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "label":
			c.LabelOpts = append(c.LabelOpts, v)
		case "apparmor":
			c.ApparmorProfile = v
		case "seccomp":
			c.SeccompProfilePath = v
		default:
			return fmt.Errorf("--security-opt %q: use label=, apparmor= or seccomp=", o)
		}
	}
	opts.CommonBuildOpts = c
	opts.Envs, opts.UnsetEnvs = in.Env, in.UnsetEnv
	opts.AddCapabilities, opts.DropCapabilities = in.CapAdd, in.CapDrop
	opts.RemoveIntermediateCtrs = !in.KeepContainers
	opts.ForceRmIntermediateCtrs = !in.KeepFailedContainers
	opts.Timestamp, opts.SourceDateEpoch = in.Timestamp, in.SourceDateEpoch
	opts.MaxPullPushRetries, opts.PullPushRetryDelay = defaultRetry, defaultRetryDelay
	if in.Retry != nil {
		opts.MaxPullPushRetries = *in.Retry
	}
	if in.RetryDelay != 0 {
		opts.PullPushRetryDelay = in.RetryDelay
	}
	// podman's --squash squashes the new layers (buildah's layers off);
	// --squash-all every layer, and caches no intermediate images unless
	// --layers says so.
	opts.Layers = in.Layers == nil || *in.Layers
	switch {
	case in.Squash:
		opts.Layers, opts.Squash = false, false
	case in.SquashAll:
		opts.Squash = true
		if in.Layers == nil {
			opts.Layers = false
		}
	}
	var err error
	if opts.CacheFrom, err = repositories("--cache-from", in.CacheFrom); err != nil {
		return err
	}
	if opts.CacheTo, err = repositories("--cache-to", in.CacheTo); err != nil {
		return err
	}
	return buildContexts(opts, in.BuildContexts)
}

// repositories parses --cache-from and --cache-to values: repositories
// without a tag or digest.
func repositories(flag string, names []string) ([]reference.Named, error) {
	var out []reference.Named
	for _, n := range names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil || !reference.IsNameOnly(named) {
			return nil, fmt.Errorf("%s %q: give a repository, without tag or digest, as in registry.example/app/cache", flag, n)
		}
		out = append(out, named)
	}
	return out, nil
}

// imageContextPrefixes are the forms of an image as a build context.
var imageContextPrefixes = []string{"docker-image://", "container-image://", "docker://"}

// buildContexts sets the additional build contexts: images the node
// pulls and URLs it downloads. A local directory would be a path on the
// client, which the node does not have: farm refuses those before.
func buildContexts(opts *types.BuildOptions, contexts map[string]string) error {
	for name, v := range contexts {
		c := &define.AdditionalBuildContext{Value: v}
		switch {
		case strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://"):
			c.IsURL = true
		default:
			for _, p := range imageContextPrefixes {
				if strings.HasPrefix(v, p) {
					c.IsImage, c.Value = true, strings.TrimPrefix(v, p)
				}
			}
			if !c.IsImage {
				return fmt.Errorf("--build-context %s=%s: give an image (docker-image://REF) or a URL", name, v)
			}
		}
		if opts.AdditionalBuildContexts == nil {
			opts.AdditionalBuildContexts = map[string]*define.AdditionalBuildContext{}
		}
		opts.AdditionalBuildContexts[name] = c
	}
	return nil
}
