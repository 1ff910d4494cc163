package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.podman.io/image/v5/docker/reference"

	"github.com/farmbuild/farm/engine"
)

// podmanOptions are the flags of `podman build` and `podman farm build`
// that farm takes as they are, so that their command lines work with
// farm build unchanged. Which engine honours which is in docs/build.md.
type podmanOptions struct {
	rm, forceRm, layers, squash, squashAll, identityLabel, quiet      bool
	shmSize, memory, memorySwap, cpusetCPUs, cpusetMems, cgroupParent string
	retryDelay, sourceDateEpoch, creds, certDir                       string
	cpuShares, cpuPeriod                                              uint64
	cpuQuota, timestamp                                               int64
	retry, jobs                                                       int
	ulimits, cacheFrom, cacheTo, addHosts, capAdd, capDrop            []string
	dns, dnsOptions, dnsSearch, env, unsetEnv, volumes, securityOpts  []string
	buildContexts                                                     []string
}

// define adds the flags.
func (o *podmanOptions) define(f *pflag.FlagSet) {
	f.BoolVar(&o.rm, "rm", true, "remove intermediate containers after a successful build")
	f.BoolVar(&o.forceRm, "force-rm", true, "remove intermediate containers even when the build fails")
	f.BoolVar(&o.layers, "layers", true, "cache intermediate images (podman; --layers=false on docker: use --no-cache)")
	f.BoolVar(&o.squash, "squash", false, "squash the layers the build adds into one (podman)")
	f.BoolVar(&o.squashAll, "squash-all", false, "squash every layer, the base image's too, into one (podman)")
	f.BoolVar(&o.identityLabel, "identity-label", true, "add the builder's identity label io.buildah.version (podman)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no build output (it is still recorded: farm logs ID); the summary and errors still print")
	f.StringVar(&o.shmSize, "shm-size", "", "size of /dev/shm in RUN steps, e.g. 128m (default: the engine's, 64m)")
	f.StringSliceVar(&o.ulimits, "ulimit", nil, "ulimit of RUN steps, TYPE=SOFT[:HARD], e.g. nofile=1024:2048 (repeatable)")
	f.StringVarP(&o.memory, "memory", "m", "", "memory limit of RUN steps, e.g. 2g (podman; docker only without BuildKit)")
	f.StringVar(&o.memorySwap, "memory-swap", "", "memory plus swap limit of RUN steps, e.g. 4g; -1: unlimited swap (docker without BuildKit)")
	f.Uint64Var(&o.cpuShares, "cpu-shares", 0, "CPU shares (relative weight) of RUN steps")
	f.Int64Var(&o.cpuQuota, "cpu-quota", 0, "CPU CFS quota of RUN steps, in microseconds per --cpu-period")
	f.Uint64Var(&o.cpuPeriod, "cpu-period", 0, "CPU CFS period of RUN steps, in microseconds")
	f.StringVar(&o.cpusetCPUs, "cpuset-cpus", "", "CPUs RUN steps may use, e.g. 0-3,5")
	f.StringVar(&o.cpusetMems, "cpuset-mems", "", "memory nodes RUN steps may use, e.g. 0,1")
	f.StringVar(&o.cgroupParent, "cgroup-parent", "", "cgroup the RUN steps' containers are made in, on the node")
	f.StringSliceVar(&o.cacheFrom, "cache-from", nil, "registry repository to read the layer cache from (the node reaches it without your credentials)")
	f.StringSliceVar(&o.cacheTo, "cache-to", nil, "registry repository to write the layer cache to (podman; the node pushes without your credentials)")
	f.StringSliceVar(&o.addHosts, "add-host", nil, "extra /etc/hosts entry of RUN steps, HOST:IP (repeatable)")
	f.StringArrayVar(&o.env, "env", nil, "environment variable of the image, KEY=VALUE (KEY alone or KEY*: from this environment) (podman)")
	f.StringArrayVar(&o.unsetEnv, "unsetenv", nil, "environment variable to remove from the image (podman)")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "bind-mount a path OF THE NODE into RUN steps, NODE-PATH:PATH[:OPTIONS] (podman)")
	f.StringArrayVar(&o.securityOpts, "security-opt", nil, "security option of RUN steps: label=, apparmor= or seccomp= (a profile path on the node) (podman)")
	f.StringSliceVar(&o.capAdd, "cap-add", nil, "capability to add to RUN steps (podman)")
	f.StringSliceVar(&o.capDrop, "cap-drop", nil, "capability to drop from RUN steps (podman)")
	f.StringSliceVar(&o.dns, "dns", nil, "DNS server of RUN steps (podman)")
	f.StringSliceVar(&o.dnsOptions, "dns-option", nil, "DNS option of RUN steps (podman)")
	f.StringSliceVar(&o.dnsSearch, "dns-search", nil, "DNS search domain of RUN steps (podman)")
	f.StringArrayVar(&o.buildContexts, "build-context", nil, "additional build context NAME=docker-image://REF or NAME=URL; local directories are refused (podman)")
	f.IntVar(&o.retry, "retry", 3, "how often the node retries a failing pull (podman 5.3 and later)")
	f.StringVar(&o.retryDelay, "retry-delay", "", "pause between pull retries, e.g. 5s (default 2s) (podman 5.3 and later)")
	f.StringVar(&o.sourceDateEpoch, "source-date-epoch", "", "timestamp (seconds since the epoch) for the image and SOURCE_DATE_EPOCH in the build (podman 5.6 and later)")
	f.Int64Var(&o.timestamp, "timestamp", 0, "created time (seconds since the epoch) of the image and its layers' files (podman)")
	f.IntVar(&o.jobs, "jobs", 1, "stages built at once: farm takes only 1 (see docs/build.md); parallelism comes from the nodes")
	f.StringVar(&o.creds, "creds", "", "USER:PASSWORD for the registries the Containerfile's FROM lines name (instead of the client's login for them)")
	f.StringVar(&o.certDir, "cert-dir", "", "refused: nodes read registry certificates from their own certs.d (see docs/build.md)")
}

// instructions checks the flags and sets them in in; changed says which
// flags the command line gave.
func (o *podmanOptions) instructions(in *engine.Instructions, changed func(string) bool) error {
	var err error
	in.KeepContainers, in.KeepFailedContainers = !o.rm, !o.forceRm
	if changed("layers") {
		in.Layers = &o.layers
	}
	if changed("identity-label") {
		in.IdentityLabel = &o.identityLabel
	}
	if o.squash && o.squashAll {
		return usageErrorf("--squash and --squash-all both say how to squash: give one")
	}
	in.Squash, in.SquashAll = o.squash, o.squashAll
	if in.ShmSize, err = parseSize("--shm-size", o.shmSize); err != nil {
		return err
	}
	if in.Memory, err = parseSize("--memory", o.memory); err != nil {
		return err
	}
	if o.memorySwap == "-1" {
		in.MemorySwap = -1
	} else if in.MemorySwap, err = parseSize("--memory-swap", o.memorySwap); err != nil {
		return err
	}
	if o.cpuQuota < 0 {
		return usageErrorf("--cpu-quota %d: give a positive number of microseconds", o.cpuQuota)
	}
	if o.cpuShares > 1<<62 || o.cpuPeriod > 1<<62 {
		return usageErrorf("--cpu-shares or --cpu-period is out of range")
	}
	in.CPUShares, in.CPUQuota, in.CPUPeriod = int64(o.cpuShares), o.cpuQuota, int64(o.cpuPeriod)
	in.CPUSetCPUs, in.CPUSetMems, in.CgroupParent = o.cpusetCPUs, o.cpusetMems, o.cgroupParent
	for _, u := range o.ulimits {
		if !ulimitSpec.MatchString(u) {
			return usageErrorf("--ulimit %q: use TYPE=SOFT[:HARD], as in nofile=1024:2048", u)
		}
	}
	in.Ulimits = o.ulimits
	for _, h := range o.addHosts {
		if host, ip, ok := strings.Cut(h, ":"); !ok || host == "" || ip == "" {
			return usageErrorf("--add-host %q: use HOST:IP", h)
		}
	}
	in.AddHosts = o.addHosts
	if in.CacheFrom, err = repositoryNames("--cache-from", o.cacheFrom); err != nil {
		return err
	}
	if in.CacheTo, err = repositoryNames("--cache-to", o.cacheTo); err != nil {
		return err
	}
	if in.Env, err = lookupEnv(o.env); err != nil {
		return err
	}
	in.UnsetEnv = o.unsetEnv
	for _, v := range o.volumes {
		if src, _, ok := strings.Cut(v, ":"); !ok || !filepath.IsAbs(src) {
			return usageErrorf("--volume %q: use NODE-PATH:PATH[:OPTIONS] with an absolute path on the node", v)
		}
	}
	in.Volumes = o.volumes
	for _, s := range o.securityOpts {
		if k, _, _ := strings.Cut(s, "="); k != "label" && k != "apparmor" && k != "seccomp" || !strings.Contains(s, "=") {
			return usageErrorf("--security-opt %q: use label=, apparmor= or seccomp= (podman's build API takes no other)", s)
		}
	}
	in.SecurityOpts, in.CapAdd, in.CapDrop = o.securityOpts, o.capAdd, o.capDrop
	if in.Network == "none" && len(o.dns)+len(o.dnsOptions)+len(o.dnsSearch) > 0 {
		return usageErrorf("--dns, --dns-option and --dns-search need a network: drop them or --network none")
	}
	in.DNSServers, in.DNSOptions, in.DNSSearch = o.dns, o.dnsOptions, o.dnsSearch
	if in.BuildContexts, err = buildContexts(o.buildContexts); err != nil {
		return err
	}
	if err := o.timing(in, changed); err != nil {
		return err
	}
	if o.jobs != 1 {
		return usageErrorf("--jobs %d: farm builds one stage at a time on each node, so that every output line belongs to its platform; the farm's nodes build in parallel: drop --jobs", o.jobs)
	}
	if o.certDir != "" {
		return usageErrorf("--cert-dir %s: registries are reached by the nodes, which read certificates from their own /etc/containers/certs.d (docker: /etc/docker/certs.d): install them there", o.certDir)
	}
	return nil
}

// timing reads --retry, --retry-delay, --source-date-epoch and --timestamp.
func (o *podmanOptions) timing(in *engine.Instructions, changed func(string) bool) error {
	if changed("retry") {
		if o.retry < 0 {
			return usageErrorf("--retry %d: give 0 or more", o.retry)
		}
		in.Retry = &o.retry
	}
	if o.retryDelay != "" {
		d, err := time.ParseDuration(o.retryDelay)
		if err != nil || d <= 0 {
			return usageErrorf("--retry-delay %q: give a duration, as in 5s", o.retryDelay)
		}
		in.RetryDelay = d
	}
	if o.sourceDateEpoch != "" {
		s, err := strconv.ParseInt(o.sourceDateEpoch, 10, 64)
		if err != nil || s < 0 {
			return usageErrorf("--source-date-epoch %q: give seconds since the epoch", o.sourceDateEpoch)
		}
		t := time.Unix(s, 0).UTC()
		in.SourceDateEpoch = &t
	}
	if changed("timestamp") {
		if o.timestamp < 0 {
			return usageErrorf("--timestamp %d: give seconds since the epoch", o.timestamp)
		}
		t := time.Unix(o.timestamp, 0).UTC()
		in.Timestamp = &t
	}
	return nil
}

// ulimitSpec is TYPE=SOFT[:HARD] (-1 for unlimited).
var ulimitSpec = regexp.MustCompile(`^[a-z]+=-?[0-9]+(:-?[0-9]+)?$`)

// sizeSpec is a size as podman and docker take it: 512, 64k, 1.5g, 2GiB.
var sizeSpec = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$`)

// parseSize reads a size in bytes (units are binary, as docker's); ""
// is 0.
func parseSize(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	m := sizeSpec.FindStringSubmatch(s)
	if m == nil {
		return 0, usageErrorf("%s %q: give a size, as in 512m or 2g", flag, s)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	if u := strings.ToLower(m[3]); u != "" {
		n *= float64(int64(1) << (10 * (strings.Index("kmgtp", u) + 1)))
	}
	if n < 1 || n > 1<<62 {
		return 0, usageErrorf("%s %q: give a size, as in 512m or 2g", flag, s)
	}
	return int64(n), nil
}

// repositoryNames checks --cache-from and --cache-to values: registry
// repositories without a tag or digest.
func repositoryNames(flag string, names []string) ([]string, error) {
	for _, n := range names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil || !reference.IsNameOnly(named) {
			return nil, usageErrorf("%s %q: give a repository, without tag or digest, as in registry.example/app/cache", flag, n)
		}
	}
	return names, nil
}

// lookupEnv resolves --env values as podman does: KEY=VALUE as it is, KEY
// from this environment (left out when unset), KEY* every variable that
// starts so. A bare * (the whole environment into an image built on
// shared nodes) is refused.
func lookupEnv(specs []string) ([]string, error) {
	var out []string
	for _, s := range specs {
		key, _, ok := strings.Cut(s, "=")
		switch {
		case ok:
			if key == "" {
				return nil, usageErrorf("--env %q: use KEY=VALUE", s)
			}
			out = append(out, s)
		case key == "*":
			return nil, usageErrorf("--env '*' would put this machine's whole environment into the image: name the variables")
		case strings.HasSuffix(key, "*"):
			for _, kv := range os.Environ() {
				if strings.HasPrefix(kv, strings.TrimSuffix(key, "*")) {
					out = append(out, kv)
				}
			}
		default:
			if v, found := os.LookupEnv(key); found {
				out = append(out, key+"="+v)
			}
		}
	}
	return out, nil
}

// buildContexts reads --build-context NAME=VALUE: images and URLs, which
// the nodes fetch themselves. A local directory would have to travel to
// every node besides the context; it is refused.
func buildContexts(specs []string) (map[string]string, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, s := range specs {
		name, v, ok := strings.Cut(s, "=")
		if !ok || name == "" || v == "" {
			return nil, usageErrorf("--build-context %q: use NAME=docker-image://REF or NAME=URL", s)
		}
		remote := strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://")
		for _, p := range []string{"docker-image://", "container-image://", "docker://"} {
			remote = remote || strings.HasPrefix(v, p) && len(v) > len(p)
		}
		if !remote {
			return nil, usageErrorf("--build-context %s: %s is a local directory, which farm does not send to the nodes: COPY it from the main context, or give an image (docker-image://REF) or a URL", name, v)
		}
		out[name] = v
	}
	return out, nil
}

// usageErrorf is a usage error with a formatted message.
func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}
