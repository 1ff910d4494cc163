package engine

// Not every engine honours every build flag. An engine driver that cannot
// honour some (all of them, or in some versions) says so through
// FlagChecker, and farm asks it before any build starts, so that a flag is
// refused, naming the node, rather than silently ignored.

// FlagChecker is a Builder that can tell which of a build's flags it
// cannot honour.
type FlagChecker interface {
	// Unsupported returns, for the engine described by info, a Refusal
	// for each flag of in.Flags() it cannot honour, in that order.
	Unsupported(info EngineInfo, in Instructions) []Refusal
}

// Refusal says why an engine cannot honour a flag.
type Refusal struct {
	// Flag is the flag, as Instructions.Flags names it.
	Flag string
	// Why completes "KIND node NAME ...": "cannot squash".
	Why string
	// Fix says what to do: "drop it or build on podman nodes".
	Fix string
}

// flagUses are the flags that an engine may not honour, in the order
// Flags reports them, with when a build uses each.
var flagUses = []struct {
	flag string
	used func(Instructions) bool
}{
	{"--secret", func(in Instructions) bool { return len(in.Secrets) > 0 }},
	{"--annotation", func(in Instructions) bool { return len(in.Annotations) > 0 }},
	{"--network NAME", func(in Instructions) bool {
		return in.Network != "" && in.Network != "host" && in.Network != "none" && in.Network != "default" && in.Network != "private"
	}},
	{"--pull=never", func(in Instructions) bool { return in.Pull == "never" || in.Pull == "false" }},
	{"--rm=false", func(in Instructions) bool { return in.KeepContainers }},
	{"--force-rm=false", func(in Instructions) bool { return in.KeepFailedContainers }},
	{"--layers=false", func(in Instructions) bool { return in.Layers != nil && !*in.Layers }},
	{"--squash", func(in Instructions) bool { return in.Squash }},
	{"--squash-all", func(in Instructions) bool { return in.SquashAll }},
	{"--shm-size", func(in Instructions) bool { return in.ShmSize != 0 }},
	{"--ulimit", func(in Instructions) bool { return len(in.Ulimits) > 0 }},
	{"--memory", func(in Instructions) bool { return in.Memory != 0 }},
	{"--memory-swap", func(in Instructions) bool { return in.MemorySwap > 0 }},
	{"--memory-swap=-1", func(in Instructions) bool { return in.MemorySwap < 0 }},
	{"--cpu-shares", func(in Instructions) bool { return in.CPUShares != 0 }},
	{"--cpu-quota", func(in Instructions) bool { return in.CPUQuota != 0 }},
	{"--cpu-period", func(in Instructions) bool { return in.CPUPeriod != 0 }},
	{"--cpuset-cpus", func(in Instructions) bool { return in.CPUSetCPUs != "" }},
	{"--cpuset-mems", func(in Instructions) bool { return in.CPUSetMems != "" }},
	{"--cgroup-parent", func(in Instructions) bool { return in.CgroupParent != "" }},
	{"--cache-from", func(in Instructions) bool { return len(in.CacheFrom) > 0 }},
	{"--cache-to", func(in Instructions) bool { return len(in.CacheTo) > 0 }},
	{"--add-host", func(in Instructions) bool { return len(in.AddHosts) > 0 }},
	{"--env", func(in Instructions) bool { return len(in.Env) > 0 }},
	{"--unsetenv", func(in Instructions) bool { return len(in.UnsetEnv) > 0 }},
	{"--volume", func(in Instructions) bool { return len(in.Volumes) > 0 }},
	{"--security-opt", func(in Instructions) bool { return len(in.SecurityOpts) > 0 }},
	{"--cap-add", func(in Instructions) bool { return len(in.CapAdd) > 0 }},
	{"--cap-drop", func(in Instructions) bool { return len(in.CapDrop) > 0 }},
	{"--dns", func(in Instructions) bool { return len(in.DNSServers) > 0 }},
	{"--dns-option", func(in Instructions) bool { return len(in.DNSOptions) > 0 }},
	{"--dns-search", func(in Instructions) bool { return len(in.DNSSearch) > 0 }},
	{"--build-context", func(in Instructions) bool { return len(in.BuildContexts) > 0 }},
	{"--retry", func(in Instructions) bool { return in.Retry != nil }},
	{"--retry-delay", func(in Instructions) bool { return in.RetryDelay != 0 }},
	{"--source-date-epoch", func(in Instructions) bool { return in.SourceDateEpoch != nil }},
	{"--timestamp", func(in Instructions) bool { return in.Timestamp != nil }},
	{"--identity-label", func(in Instructions) bool { return in.IdentityLabel != nil && *in.IdentityLabel }},
	{"--identity-label=false", func(in Instructions) bool { return in.IdentityLabel != nil && !*in.IdentityLabel }},
}

// Flags returns the flags of the build that some engine may not honour,
// in a fixed order. A flag with a value that matters has it in its name:
// "--network NAME" (a named network, not host or none), "--pull=never",
// "--layers=false".
func (in Instructions) Flags() []string {
	var out []string
	for _, f := range flagUses {
		if f.used(in) {
			out = append(out, f.flag)
		}
	}
	return out
}

// KnownFlags returns every flag Flags can report, for the drivers' tables
// to be checked against.
func KnownFlags() []string {
	out := make([]string, len(flagUses))
	for i, f := range flagUses {
		out[i] = f.flag
	}
	return out
}

// Message is the refusal as one line: "FLAG: KIND node NODE WHY: FIX".
func (r Refusal) Message(kind, node string) string {
	return r.Flag + ": " + kind + " node " + node + " " + r.Why + ": " + r.Fix
}
