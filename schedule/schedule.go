// Package schedule assigns platforms to nodes. It is pure and
// deterministic: the caller gathers the facts about the nodes first, then
// Assign decides, and the same facts always give the same plan.
package schedule

import (
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Node is what the scheduler knows about one node.
type Node struct {
	// Name is the node's connection name; names are unique.
	Name string
	// Native is the platform the node runs natively.
	Native ocispec.Platform
	// Emulated are the platforms it runs under emulation.
	Emulated []ocispec.Platform
	// CPUs is the node's CPU count (at least 1 is assumed).
	CPUs int
}

// Job is one platform assigned to one node. A plan is keyed by
// (Platform, Node): a node may hold several jobs.
type Job struct {
	// Platform is the requested platform, normalized.
	Platform ocispec.Platform
	// Node is the name of the node that builds it.
	Node string
	// Emulated is true when the node builds it under emulation.
	Emulated bool
	// Reason says why this node was chosen.
	Reason string
}

// Plan is the assignment of every requested platform, in request order.
type Plan struct {
	Jobs []Job
}

// ByNode groups the plan's jobs by node, in node name order.
func (p Plan) ByNode() map[string][]Job {
	out := map[string][]Job{}
	for _, j := range p.Jobs {
		out[j.Node] = append(out[j.Node], j)
	}
	return out
}

// emulationCost is how many native builds one emulated build weighs when
// spreading load: emulation is many times slower.
const emulationCost = 5

// Assign gives each platform to a node that builds it natively, spreading
// the platforms over the capable nodes by load per CPU; only when no node
// can build a platform natively does it go to a node that emulates it.
// When a platform cannot be served at all, the error lists what every node
// can build.
func Assign(want []ocispec.Platform, nodes []Node) (Plan, error) {
	nodes = sortedNodes(nodes)
	load := make([]int, len(nodes))
	var plan Plan
	var missing []string
	for _, p := range want {
		p = platforms.Normalize(p)
		best, emulated := -1, false
		for i, n := range nodes {
			if !nativeFor(n, p) {
				continue
			}
			if best < 0 || less(load[i], nodes[i], load[best], nodes[best]) {
				best = i
			}
		}
		if best < 0 {
			emulated = true
			for i, n := range nodes {
				if !emulatesFor(n, p) {
					continue
				}
				if best < 0 || less(load[i], nodes[i], load[best], nodes[best]) {
					best = i
				}
			}
		}
		if best < 0 {
			missing = append(missing, Format(p))
			continue
		}
		reason := "native"
		cost := 1
		if emulated {
			reason = "emulated: no node builds " + Format(p) + " natively"
			cost = emulationCost
		}
		load[best] += cost
		plan.Jobs = append(plan.Jobs, Job{Platform: p, Node: nodes[best].Name, Emulated: emulated, Reason: reason})
	}
	if len(missing) > 0 {
		return Plan{}, &UnservableError{Platforms: missing, Capabilities: capabilities(nodes)}
	}
	return plan, nil
}

// less orders candidates by load per CPU, then by name (nodes are sorted,
// so the earlier index wins ties).
func less(loadA int, a Node, loadB int, b Node) bool {
	// Compare loadA/cpusA < loadB/cpusB without division.
	return (loadA+1)*cpus(b) < (loadB+1)*cpus(a)
}

func cpus(n Node) int {
	if n.CPUs < 1 {
		return 1
	}
	return n.CPUs
}

func sortedNodes(nodes []Node) []Node {
	out := append([]Node(nil), nodes...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Satisfies reports whether a node whose platform is have can build for
// want: the same OS and architecture, and a variant at least as capable
// (amd64/v3 builds amd64/v2, arm/v7 builds arm/v6). Other architectures a
// CPU may run (386 on amd64, arm on arm64) do not count.
func Satisfies(have, want ocispec.Platform) bool {
	have, want = platforms.Normalize(have), platforms.Normalize(want)
	return have.OS == want.OS && have.Architecture == want.Architecture && platforms.Only(have).Match(want)
}

func nativeFor(n Node, p ocispec.Platform) bool { return Satisfies(n.Native, p) }

func emulatesFor(n Node, p ocispec.Platform) bool {
	for _, e := range n.Emulated {
		if Satisfies(e, p) {
			return true
		}
	}
	return false
}

// NativePlatforms are the distinct native platforms of the nodes, sorted:
// what a build with no --platforms produces.
func NativePlatforms(nodes []Node) []ocispec.Platform {
	seen := map[string]ocispec.Platform{}
	for _, n := range nodes {
		p := platforms.Normalize(n.Native)
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
