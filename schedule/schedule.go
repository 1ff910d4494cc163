// Package schedule assigns platforms to nodes. It is pure and
// deterministic: the caller gathers the facts about the nodes first, then
// Assign decides, and the same facts always give the same plan.
package schedule

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/platform"
)

// Node is what the scheduler knows about one node.
type Node struct {
	// Name is the node's connection name; names are unique.
	Name string
	// Native is the platform the node runs natively.
	Native ocispec.Platform
	// Compatible are the platforms its CPU also runs natively, in a 32-bit
	// mode (linux/386 on amd64, linux/arm/v7 on most arm64): preferred to
	// emulation.
	Compatible []ocispec.Platform
	// Emulated are the platforms it runs under emulation.
	Emulated []ocispec.Platform
	// CPUs is the node's CPU count (at least 1 is assumed).
	CPUs int
	// Weight is the user's relative speed or priority for the node; zero
	// means 1. A node of weight 2 is expected to build twice as fast.
	Weight float64
	// Running counts builds already running on the node.
	Running int
	// History holds how long each platform (as Format gives it) took on
	// this node last time; its layer cache for that platform is warm.
	History map[string]time.Duration
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
	// Estimate is the expected build time on that node.
	Estimate time.Duration
}

// Plan is the assignment of every requested platform, in request order.
type Plan struct {
	Jobs []Job
	// Makespan is the expected time until the last platform is done.
	Makespan time.Duration
}

// Cost model. Without history a native build is assumed to take
// defaultBuild on a 1-CPU node of weight 1; emulation is emulationCost
// times slower; a node's speed grows with the square root of its CPUs
// (builds parallelize only partly) times its weight.
const (
	defaultBuild  = time.Minute
	emulationCost = 5
)

// Assign gives each platform to a node that builds it natively; only when
// no node can does it go to one that emulates it. Among the capable nodes
// it minimizes the time until the last platform is done: longest builds
// first, each to the node where it would finish earliest, counting the
// builds already running there, the user's weights and how long the
// platform took on each node last time. On equal finish times the node
// that built the platform last time (warm cache) wins, then the name.
// When a platform cannot be served at all, the error lists what every
// node can build.
func Assign(want []ocispec.Platform, nodes []Node) (Plan, error) {
	nodes = sortedNodes(nodes)
	jobs := make([]Job, len(want))
	cands := make([][]int, len(want))
	var missing []string
	for i, p := range want {
		p = platforms.Normalize(p)
		jobs[i].Platform = p
		cands[i], jobs[i].Emulated = candidates(p, nodes)
		if len(cands[i]) == 0 {
			missing = append(missing, platform.Format(p))
		}
	}
	if len(missing) > 0 {
		return Plan{}, &UnservableError{Platforms: missing, Capabilities: capabilities(nodes)}
	}
	est := newEstimator(nodes)
	load := est.running(nodes)
	// Longest processing time first: the job whose best case is longest.
	order := longestFirst(cands, func(i, k int) time.Duration { return est.estimate(jobs[i].Platform, nodes[k], jobs[i].Emulated) })
	var plan Plan
	for _, i := range order {
		p := jobs[i].Platform
		chosen, finish := -1, time.Duration(0)
		for _, k := range cands[i] {
			f := load[k] + est.estimate(p, nodes[k], jobs[i].Emulated)
			if chosen < 0 || f < finish || (f == finish && warm(nodes[k], p) && !warm(nodes[chosen], p)) {
				chosen, finish = k, f
			}
		}
		jobs[i].Estimate = finish - load[chosen]
		load[chosen] = finish
		jobs[i].Node = nodes[chosen].Name
		jobs[i].Reason = reason(jobs[i], nodes[chosen], len(cands[i]))
		if finish > plan.Makespan {
			plan.Makespan = finish
		}
	}
	plan.Jobs = jobs
	return plan, nil
}

// running is the load of the builds already running on each node.
func (e estimator) running(nodes []Node) []time.Duration {
	load := make([]time.Duration, len(nodes))
	for k, n := range nodes {
		load[k] = time.Duration(n.Running) * e.estimate(ocispec.Platform{}, n, false)
	}
	return load
}

// longestFirst orders the jobs (each with its candidate nodes) by their
// best cost, longest first, keeping the given order on ties.
func longestFirst(cands [][]int, cost func(job, node int) time.Duration) []int {
	order := make([]int, len(cands))
	best := make([]time.Duration, len(cands))
	for i := range cands {
		order[i] = i
		best[i] = -1
		for _, k := range cands[i] {
			if c := cost(i, k); best[i] < 0 || c < best[i] {
				best[i] = c
			}
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return best[order[a]] > best[order[b]] })
	return order
}

// candidates are the indexes of the nodes that build p natively, or, when
// there are none, of those that emulate it.
func candidates(p ocispec.Platform, nodes []Node) ([]int, bool) {
	var native, emulated []int
	for k, n := range nodes {
		if nativeFor(n, p) {
			native = append(native, k)
		} else if emulatesFor(n, p) {
			emulated = append(emulated, k)
		}
	}
	if len(native) > 0 {
		return native, false
	}
	return emulated, true
}

// estimator predicts build times. work holds, per platform with history
// anywhere, the fastest known build normalized to a native build on a node
// of speed 1.
type estimator struct {
	work map[string]float64
}

func newEstimator(nodes []Node) estimator {
	e := estimator{work: map[string]float64{}}
	for _, m := range nodes {
		for key, d := range m.History {
			if d <= 0 {
				continue
			}
			p, err := platforms.Parse(key)
			if err != nil {
				continue
			}
			w := float64(d) * speed(m)
			if !nativeFor(m, platforms.Normalize(p)) {
				w /= emulationCost
			}
			if old, ok := e.work[key]; !ok || w < old {
				e.work[key] = w
			}
		}
	}
	return e
}

// estimate is the expected time to build p on n: the last build of p on n
// when known; else the fastest known build of p elsewhere scaled by the
// nodes' speeds and emulation; else the default.
func (e estimator) estimate(p ocispec.Platform, n Node, emulated bool) time.Duration {
	key := platform.Format(p)
	if d, ok := n.History[key]; ok && d > 0 {
		return d
	}
	w, ok := e.work[key]
	if !ok {
		w = float64(defaultBuild)
	}
	if emulated {
		w *= emulationCost
	}
	return time.Duration(w / speed(n))
}

func speed(n Node) float64 {
	w := n.Weight
	if w <= 0 {
		w = 1
	}
	return w * math.Sqrt(float64(cpus(n)))
}

func warm(n Node, p ocispec.Platform) bool {
	_, ok := n.History[platform.Format(p)]
	return ok
}

func reason(j Job, n Node, choices int) string {
	var parts []string
	if j.Emulated {
		parts = append(parts, "emulated: no node builds "+platform.Format(j.Platform)+" natively")
	} else if platform.Satisfies(n.Native, j.Platform) {
		parts = append(parts, "native")
	} else {
		parts = append(parts, "native (32-bit mode of "+platform.Format(n.Native)+")")
	}
	if choices > 1 {
		parts = append(parts, fmt.Sprintf("earliest finish of %d capable nodes", choices))
	}
	if warm(n, j.Platform) {
		parts = append(parts, "built it last time (warm cache)")
	}
	if n.Running > 0 {
		parts = append(parts, fmt.Sprintf("%d builds already running there", n.Running))
	}
	return strings.Join(parts, "; ")
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

func nativeFor(n Node, p ocispec.Platform) bool {
	if platform.Satisfies(n.Native, p) {
		return true
	}
	for _, c := range n.Compatible {
		if platform.Satisfies(c, p) {
			return true
		}
	}
	return false
}

func emulatesFor(n Node, p ocispec.Platform) bool {
	for _, e := range n.Emulated {
		if platform.Satisfies(e, p) {
			return true
		}
	}
	return false
}

// NativePlatforms are the distinct native platforms of the nodes, sorted:
// what a build with no --platforms produces.
func NativePlatforms(nodes []Node) []ocispec.Platform {
	natives := make([]ocispec.Platform, len(nodes))
	for i, n := range nodes {
		natives[i] = n.Native
	}
	return platform.Unique(natives)
}
