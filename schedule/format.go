package schedule

import (
	"fmt"
	"sort"
	"strings"

	"github.com/farmbuild/farm/platform"
)

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
		list := []string{platform.Format(n.Native)}
		for _, e := range n.Emulated {
			if f := platform.Format(e); f != platform.Format(n.Native) {
				list = append(list, f+" (emulated)")
			}
		}
		out[n.Name] = list
	}
	return out
}
