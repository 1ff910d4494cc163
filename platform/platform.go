// Package platform parses, formats and matches OCI platforms (os/arch
// and variant, normalized as containerd does), and reads which platforms
// a host emulates from its binfmt_misc entries.
package platform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/errdefs"
)

// Parse parses an os/arch[/variant] string and normalizes it the way
// containerd does, so "linux/arm64" and "linux/arm64/v8" are the same
// platform, "arm" means "arm/v7" and "x86_64" means "amd64".
func Parse(s string) (ocispec.Platform, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ocispec.Platform{}, fmt.Errorf("%w: empty platform: use os/arch[/variant], e.g. linux/arm64", errdefs.ErrInvalidPlatform)
	}
	if strings.Count(s, "/") > 2 || strings.Contains(s, "//") || strings.HasSuffix(s, "/") || strings.HasPrefix(s, "/") {
		return ocispec.Platform{}, fmt.Errorf("%w: %q: use os/arch[/variant], e.g. linux/arm64", errdefs.ErrInvalidPlatform, s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("%w: %q: use os/arch[/variant], e.g. linux/arm64", errdefs.ErrInvalidPlatform, s)
	}
	p = platforms.Normalize(p)
	if !knownArchs[p.Architecture] {
		return ocispec.Platform{}, fmt.Errorf("%w: %q: unknown architecture %q (e.g. amd64, arm64, arm, ppc64le, s390x, riscv64)", errdefs.ErrInvalidPlatform, s, p.Architecture)
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

// ParseList parses a comma-separated list of platforms, dropping
// duplicates (after normalization) but keeping the order.
func ParseList(list string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	seen := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		p, err := Parse(s)
		if err != nil {
			return nil, err
		}
		key := Format(p)
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// Format renders a platform as os/arch[/variant], leaving out the default
// variants (amd64 v1, arm64 v8), as podman and docker do.
func Format(p ocispec.Platform) string {
	p = platforms.Normalize(p)
	if (p.Architecture == "arm64" && p.Variant == "v8") || (p.Architecture == "amd64" && p.Variant == "v1") {
		p.Variant = ""
	}
	return platforms.Format(p)
}

// FromEngine turns the os, arch and variant an engine reports
// (uname-style names such as x86_64 and aarch64 included) into a normalized
// platform.
func FromEngine(os, arch, variant string) ocispec.Platform {
	if os == "" {
		os = "linux"
	}
	return platforms.Normalize(ocispec.Platform{OS: os, Architecture: arch, Variant: variant})
}

// Satisfies reports whether a node whose platform is have can build for
// want: the same OS and architecture, and a variant at least as capable
// (amd64/v3 builds amd64/v2, arm/v7 builds arm/v6). Other architectures a
// CPU may run (386 on amd64, arm on arm64) do not count.
func Satisfies(have, want ocispec.Platform) bool {
	have, want = platforms.Normalize(have), platforms.Normalize(want)
	return have.OS == want.OS && have.Architecture == want.Architecture && platforms.Only(have).Match(want)
}

// Unique returns the distinct platforms (after normalization), sorted by
// their Format.
func Unique(ps []ocispec.Platform) []ocispec.Platform {
	seen := map[string]ocispec.Platform{}
	for _, p := range ps {
		p = platforms.Normalize(p)
		seen[Format(p)] = p
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ocispec.Platform, 0, len(keys))
	for _, k := range keys {
		out = append(out, seen[k])
	}
	return out
}

// Slug renders a platform for names and tags: linux-arm64-v8.
func Slug(p ocispec.Platform) string {
	s := p.OS + "-" + p.Architecture
	if p.Variant != "" {
		s += "-" + p.Variant
	}
	return strings.ReplaceAll(s, "/", "-")
}
