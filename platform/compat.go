package platform

import (
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CompatScript prints, one per line, the 32-bit modes the host's CPU and
// kernel run natively: "386" on an amd64 kernel with IA-32 emulation,
// "arm" on an arm64 kernel whose CPUs run 32-bit code (the kernel lists
// them in aarch32_el0). Probed, never assumed: many arm64 CPUs have no
// 32-bit mode.
const CompatScript = `[ -e /proc/sys/abi/vsyscall32 ] && echo 386
[ -s /sys/devices/system/cpu/aarch32_el0 ] && echo arm
true`

// ParseCompat turns CompatScript's output on a host of platform native
// into the platforms that host builds natively besides native.
func ParseCompat(native ocispec.Platform, out []byte) []ocispec.Platform {
	var ps []ocispec.Platform
	for _, mode := range strings.Fields(string(out)) {
		switch {
		case mode == "386" && native.Architecture == "amd64":
			ps = append(ps, ocispec.Platform{OS: native.OS, Architecture: "386"})
		case mode == "arm" && native.Architecture == "arm64":
			ps = append(ps, ocispec.Platform{OS: native.OS, Architecture: "arm", Variant: "v7"})
		}
	}
	return ps
}
