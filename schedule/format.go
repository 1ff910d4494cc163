package schedule

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format renders a platform as os/arch[/variant], leaving out the default
// variants (amd64 v1, arm64 v8).
func Format(p ocispec.Platform) string {
	p = platforms.Normalize(p)
	if (p.Architecture == "arm64" && p.Variant == "v8") || (p.Architecture == "amd64" && p.Variant == "v1") {
		p.Variant = ""
	}
	return platforms.Format(p)
}

// UnservableError says which platforms no node can build, and what each
// node can build.
type UnservableError struct {
	// Platforms are the requested platforms no node can build.
	Platforms []string
	// Capabilities maps each node to the platforms it builds natively
	// (first) and under emulation (marked "(emulated)").
	Capabilities map[string][]string
}

func (e *UnservableError) Error() string {
	names := make([]string, 0, len(e.Capabilities))
	for n := range e.Capabilities {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, n+": "+strings.Join(e.Capabilities[n], ", "))
	}
	if len(parts) == 0 {
		parts = []string{"no nodes"}
	}
	return fmt.Sprintf("no node can build %s; the farm can build: %s", strings.Join(e.Platforms, ", "), strings.Join(parts, "; "))
}

func capabilities(nodes []Node) map[string][]string {
	out := map[string][]string{}
	for _, n := range nodes {
		list := []string{Format(n.Native)}
		for _, e := range n.Emulated {
			if f := Format(e); f != Format(n.Native) {
				list = append(list, f+" (emulated)")
			}
		}
		out[n.Name] = list
	}
	return out
}
