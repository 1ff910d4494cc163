package docker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
)

// buildOptions turns a request into the API's options for one platform's
// build, tagged hold, of the context's dockerfile. What docker cannot
// honour was refused before (refusals): it is not sent.
func buildOptions(req engine.NodeBuild, p ocispec.Platform, auths map[string]registry.AuthConfig, hold, dockerfile string) (client.ImageBuildOptions, error) {
	args := map[string]*string{}
	for k, v := range req.BuildArgs {
		args[k] = &v
	}
	labels := map[string]string{}
	for _, kv := range req.Labels {
		k, v, _ := strings.Cut(kv, "=")
		labels[k] = v
	}
	ulimits, err := parseUlimits(req.Ulimits)
	if err != nil {
		return client.ImageBuildOptions{}, err
	}
	return client.ImageBuildOptions{
		Tags:       []string{hold},
		Dockerfile: dockerfile, BuildArgs: args, Labels: labels, Target: req.Target, NoCache: req.NoCache,
		Remove: !req.KeepContainers, ForceRemove: !req.KeepFailedContainers,
		PullParent: req.Pull == "always" || req.Pull == "true" || req.Pull == "newer",
		Platforms:  []ocispec.Platform{p}, Version: build.BuilderV1, AuthConfigs: auths, NetworkMode: req.Network,
		ShmSize: req.ShmSize, Ulimits: ulimits, ExtraHosts: req.AddHosts, CacheFrom: req.CacheFrom,
		Memory: req.Memory, MemorySwap: req.MemorySwap, CPUShares: req.CPUShares, CPUQuota: req.CPUQuota,
		CPUPeriod: req.CPUPeriod, CPUSetCPUs: req.CPUSetCPUs, CPUSetMems: req.CPUSetMems, CgroupParent: req.CgroupParent,
	}, nil
}

// parseUlimits reads TYPE=SOFT[:HARD] limits ("nofile=1024:2048"; -1 is
// unlimited).
func parseUlimits(specs []string) ([]*container.Ulimit, error) {
	var out []*container.Ulimit
	for _, s := range specs {
		name, values, ok := strings.Cut(s, "=")
		soft, hard, hasHard := strings.Cut(values, ":")
		if !hasHard {
			hard = soft
		}
		s64, err1 := strconv.ParseInt(soft, 10, 64)
		h64, err2 := strconv.ParseInt(hard, 10, 64)
		if !ok || name == "" || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--ulimit %q: use TYPE=SOFT[:HARD], as in nofile=1024:2048", s)
		}
		out = append(out, &container.Ulimit{Name: name, Soft: s64, Hard: h64})
	}
	return out, nil
}
