package schedule

import (
	"fmt"
	"slices"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/platform"
)

// Task is one job of a joint plan: one platform of one of several builds
// planned together.
type Task struct {
	// Platform is the platform to build.
	Platform ocispec.Platform
	// With are the indexes of other tasks whose node this one must use:
	// it starts from their results, which stay on the node that built
	// them.
	With []int
	// Only, when not empty, names the nodes that may build it.
	Only []string
}

// AssignJoint plans several builds at once. Tasks joined by With form a
// group that goes to one node; each group goes, longest first, to the
// node where it would finish earliest, counting every task planned
// before it, so that independent builds are balanced against each
// other. A node builds a task natively when some node allowed for it
// can; only then is emulation left out. The plan's jobs are in the order
// of the tasks.
func AssignJoint(tasks []Task, nodes []Node) (Plan, error) {
	nodes = sortedNodes(nodes)
	groups, err := taskGroups(tasks)
	if err != nil {
		return Plan{}, err
	}
	norm := make([]ocispec.Platform, len(tasks))
	for i, t := range tasks {
		norm[i] = platforms.Normalize(t.Platform)
	}
	cands := make([][]int, len(groups))
	var missing []string
	for g, members := range groups {
		cands[g] = groupCandidates(members, tasks, norm, nodes)
		if len(cands[g]) == 0 {
			for _, i := range members {
				missing = append(missing, platform.Format(norm[i]))
			}
		}
	}
	if len(missing) > 0 {
		return Plan{}, &UnservableError{Platforms: slices.Compact(slices.Sorted(slices.Values(missing))), Capabilities: capabilities(nodes)}
	}
	est := newEstimator(nodes)
	cost := func(g, k int) time.Duration {
		var d time.Duration
		for _, i := range groups[g] {
			d += est.estimate(norm[i], nodes[k], !nativeFor(nodes[k], norm[i]))
		}
		return d
	}
	load := est.running(nodes)
	order := longestFirst(cands, cost)
	plan := Plan{Jobs: make([]Job, len(tasks))}
	for _, g := range order {
		chosen, finish := -1, time.Duration(0)
		for _, k := range cands[g] {
			f := load[k] + cost(g, k)
			if chosen < 0 || f < finish || (f == finish && groupWarm(nodes[k], groups[g], norm) && !groupWarm(nodes[chosen], groups[g], norm)) {
				chosen, finish = k, f
			}
		}
		n := nodes[chosen]
		for _, i := range groups[g] {
			j := Job{Platform: norm[i], Node: n.Name, Emulated: !nativeFor(n, norm[i])}
			j.Estimate = est.estimate(norm[i], n, j.Emulated)
			if len(tasks[i].With) > 0 {
				j.Reason = "on the node that builds what it starts from"
			} else {
				j.Reason = reason(j, n, len(cands[g]))
				if len(groups[g]) > 1 {
					j.Reason += fmt.Sprintf("; with the %d builds that start from it", len(groups[g])-1)
				}
			}
			plan.Jobs[i] = j
		}
		load[chosen] = finish
		plan.Makespan = max(plan.Makespan, finish)
	}
	return plan, nil
}

// taskGroups joins the tasks linked by With (union-find); each group
// lists its tasks in order, the groups in the order of their first task.
func taskGroups(tasks []Task) ([][]int, error) {
	parent := make([]int, len(tasks))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i, t := range tasks {
		for _, w := range t.With {
			if w < 0 || w >= len(tasks) || w == i {
				return nil, fmt.Errorf("task %d: no task %d to build with", i, w)
			}
			a, b := find(i), find(w)
			if a != b {
				parent[max(a, b)] = min(a, b)
			}
		}
	}
	index := map[int]int{}
	var groups [][]int
	for i := range tasks {
		r := find(i)
		g, ok := index[r]
		if !ok {
			g = len(groups)
			index[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups, nil
}

// groupCandidates are the nodes that may build every task of a group:
// allowed for each, natively where some allowed node builds the task
// natively, else under emulation. When no node builds them all that way,
// emulation is accepted where native building would split the group.
func groupCandidates(members []int, tasks []Task, norm []ocispec.Platform, nodes []Node) []int {
	strict, loose := []int{}, []int{}
	for k, n := range nodes {
		okStrict, okLoose := true, true
		for _, i := range members {
			if len(tasks[i].Only) > 0 && !slices.Contains(tasks[i].Only, n.Name) {
				okStrict, okLoose = false, false
				break
			}
			native := nativeFor(n, norm[i])
			if !native && !emulatesFor(n, norm[i]) {
				okStrict, okLoose = false, false
				break
			}
			if !native && anyNative(tasks[i], norm[i], nodes) {
				okStrict = false
			}
		}
		if okStrict {
			strict = append(strict, k)
		}
		if okLoose {
			loose = append(loose, k)
		}
	}
	if len(strict) > 0 {
		return strict
	}
	return loose
}

// anyNative reports whether a node allowed for the task builds p natively.
func anyNative(t Task, p ocispec.Platform, nodes []Node) bool {
	for _, n := range nodes {
		if (len(t.Only) == 0 || slices.Contains(t.Only, n.Name)) && nativeFor(n, p) {
			return true
		}
	}
	return false
}

func groupWarm(n Node, members []int, norm []ocispec.Platform) bool {
	for _, i := range members {
		if warm(n, norm[i]) {
			return true
		}
	}
	return false
}
