package farm

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/farmbuild/farm/schedule"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ParsePlatform parses an os/arch[/variant] string and normalizes it the way
// containerd does, so "linux/arm64" and "linux/arm64/v8" are the same
// platform, "arm" means "arm/v7" and "x86_64" means "amd64".
func ParsePlatform(s string) (ocispec.Platform, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ocispec.Platform{}, fmt.Errorf("%w: empty platform: use os/arch[/variant], e.g. linux/arm64", ErrInvalidPlatform)
	}
	if strings.Count(s, "/") > 2 || strings.Contains(s, "//") || strings.HasSuffix(s, "/") || strings.HasPrefix(s, "/") {
		return ocispec.Platform{}, fmt.Errorf("%w: %q: use os/arch[/variant], e.g. linux/arm64", ErrInvalidPlatform, s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("%w: %q: use os/arch[/variant], e.g. linux/arm64", ErrInvalidPlatform, s)
	}
	p = platforms.Normalize(p)
	if !knownArchs[p.Architecture] {
		return ocispec.Platform{}, fmt.Errorf("%w: %q: unknown architecture %q (e.g. amd64, arm64, arm, ppc64le, s390x, riscv64)", ErrInvalidPlatform, s, p.Architecture)
	}
	return p, nil
}

// knownArchs are the GOARCH values an OCI platform may name.
var knownArchs = map[string]bool{
	"386": true, "amd64": true, "amd64p32": true, "arm": true, "armbe": true, "arm64": true, "arm64be": true,
	"loong64": true, "mips": true, "mipsle": true, "mips64": true, "mips64le": true, "mips64p32": true, "mips64p32le": true,
	"ppc": true, "ppc64": true, "ppc64le": true, "riscv": true, "riscv64": true, "s390": true, "s390x": true,
	"sparc": true, "sparc64": true, "wasm": true,
}

// ParsePlatforms parses a comma-separated list of platforms, dropping
// duplicates (after normalization) but keeping the order.
func ParsePlatforms(list string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	seen := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		p, err := ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		key := FormatPlatform(p)
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// FormatPlatform renders a normalized platform as os/arch[/variant]. The
// default variants (amd64 v1, arm64 v8) are left out, as podman and docker do.
func FormatPlatform(p ocispec.Platform) string {
	return schedule.Format(p)
}

// PlatformFromEngine turns the os, arch and variant an engine reports
// (uname-style names such as x86_64 and aarch64 included) into a normalized
// platform.
func PlatformFromEngine(os, arch, variant string) ocispec.Platform {
	if os == "" {
		os = "linux"
	}
	return platforms.Normalize(ocispec.Platform{OS: os, Architecture: arch, Variant: variant})
}

// PlatformSatisfies reports whether a node whose platform is have can build
// for want: the same OS and architecture, and a variant at least as capable
// (an amd64/v3 node builds amd64/v2; arm64 without variant is arm64/v8).
// Other architectures a CPU may run (386 on amd64, arm on arm64) are not
// counted: not every such CPU can, and emulation covers them.
func PlatformSatisfies(have, want ocispec.Platform) bool {
	return schedule.Satisfies(have, want)
}
