package farm

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/schedule"
)

// BakePlanTarget is one target of a bake run, as its joint plan sees it.
type BakePlanTarget struct {
	// Name is the target's name.
	Name string
	// Deps are the targets whose results it starts from (its target:
	// contexts), planned before it.
	Deps []string
	// Platforms are its platforms; empty means its first dependency's,
	// or, without dependencies, every platform the farm builds natively.
	Platforms []ocispec.Platform
	// Engines, when set, limits it to nodes of these engine kinds, and
	// EnginesWhy says why (for the error when the farm has none).
	Engines    []string
	EnginesWhy string
}

// BakePlannedJob is one platform of one target in a bake's joint plan.
type BakePlannedJob struct {
	Target string `json:"target"`
	PlannedJob
}

// BakePlan is the joint plan of a bake run and what was learned making it.
type BakePlan struct {
	// Jobs are by target, in the order of the targets, then of their
	// platforms.
	Jobs []BakePlannedJob `json:"jobs"`
	// Nodes are the nodes contacted for facts that were missing or stale.
	Nodes []ObservedNode `json:"nodes,omitempty"`
	// Makespan is the expected time until the last build is done.
	Makespan string `json:"makespan,omitempty"`
}

// Pins are the target's platforms and the node the plan builds each on
// (BuildOptions.Pins).
func (b *BakePlan) Pins(target string) ([]ocispec.Platform, map[string]string) {
	var want []ocispec.Platform
	pins := map[string]string{}
	for _, j := range b.Jobs {
		if j.Target != target {
			continue
		}
		p, err := platform.Parse(j.Platform)
		if err != nil {
			continue
		}
		want = append(want, p)
		pins[j.Platform] = j.Node
	}
	return want, pins
}

// PlanBake plans every platform of every target of a bake run at once:
// it gathers the nodes' facts once (fresh known facts, else it opens the
// node), and gives all the jobs to the scheduler together, each
// dependent platform on the node that builds the result it starts from.
// opts gives what the targets share: KnownNodes, Weights, History,
// FactsMaxAge, ConnectTimeout and Logger.
func PlanBake(ctx context.Context, conns []config.Connection, open engine.Opener, targets []BakePlanTarget, opts BuildOptions) (*BakePlan, error) {
	p := newPlanner(conns, open, opts)
	defer p.close()
	if err := p.learn(ctx); err != nil {
		return nil, err
	}
	plan, tasks, err := p.scheduleBake(targets)
	if err != nil && len(p.deferred) > 0 && ctx.Err() == nil {
		// As a build would: the nodes that failed lately are the last resort.
		p.openAll(ctx, p.deferred)
		p.deferred = nil
		plan, tasks, err = p.scheduleBake(targets)
	}
	res := &BakePlan{Nodes: p.observedNodes()}
	if err != nil {
		return res, err
	}
	for i, j := range plan.Jobs {
		res.Jobs = append(res.Jobs, BakePlannedJob{Target: tasks[i], PlannedJob: PlannedJob{Platform: platform.Format(j.Platform), Node: j.Node,
			Emulated: j.Emulated, Reason: j.Reason, FactsSeen: p.factsSeen(j.Node)}})
	}
	res.Makespan = plan.Makespan.String()
	return res, nil
}

// scheduleBake makes the joint plan on the nodes with facts that were
// not found down; it returns each task's target too.
func (p *planner) scheduleBake(targets []BakePlanTarget) (schedule.Plan, []string, error) {
	var nodes []schedule.Node
	kinds := map[string]string{}
	for _, c := range p.conns {
		f, ok := p.facts[c.Name]
		if !ok || p.down[c.Name] {
			continue
		}
		running := 0
		if n := p.nodes[c.Name]; n != nil {
			running = n.Info.RunningBuilds
		}
		nodes = append(nodes, scheduleNode(c.Name, f, running, p.opts))
		kinds[c.Name] = f.Kind
	}
	if len(nodes) == 0 {
		return schedule.Plan{}, nil, fmt.Errorf("%w: none of the farm's %d nodes can be reached", errdefs.ErrNodeDown, len(p.conns))
	}
	var tasks []schedule.Task
	var owner []string
	first := map[string][]int{} // by target: its tasks
	for _, t := range targets {
		var only []string
		var allowed []schedule.Node
		for _, n := range nodes {
			if len(t.Engines) == 0 || slices.Contains(t.Engines, kinds[n.Name]) {
				allowed = append(allowed, n)
				if len(t.Engines) > 0 {
					only = append(only, n.Name)
				}
			}
		}
		if len(t.Engines) > 0 && len(only) == 0 {
			return schedule.Plan{}, nil, fmt.Errorf("%w: target %s can only be built on %s nodes (%s), and none of the farm's reachable nodes is one", errdefs.ErrNoCapableNode, t.Name, strings.Join(t.Engines, " or "), t.EnginesWhy)
		}
		want := t.Platforms
		if len(want) == 0 && len(t.Deps) > 0 {
			for _, i := range first[t.Deps[0]] {
				want = append(want, tasks[i].Platform)
			}
		}
		if len(want) == 0 {
			want = schedule.NativePlatforms(allowed)
		}
		for _, w := range want {
			task := schedule.Task{Platform: w, Only: only}
			for _, d := range t.Deps {
				i, err := depTask(first[d], tasks, w)
				if err != nil {
					return schedule.Plan{}, nil, fmt.Errorf("%w: target %s: its dependency %s %w", errdefs.ErrUsage, t.Name, d, err)
				}
				task.With = append(task.With, i)
			}
			first[t.Name] = append(first[t.Name], len(tasks))
			tasks = append(tasks, task)
			owner = append(owner, t.Name)
		}
	}
	plan, err := schedule.AssignJoint(tasks, nodes)
	if err != nil {
		if len(p.down) > 0 {
			return plan, nil, fmt.Errorf("%w (%d of %d nodes could not be reached): %w", errdefs.ErrNoCapableNode, len(p.down), len(p.conns), err)
		}
		return plan, nil, fmt.Errorf("%w: %w", errdefs.ErrNoCapableNode, err)
	}
	return plan, owner, nil
}

// depTask is the task of a dependency that a platform w of its dependent
// starts from: its task of w, or its only task (as LinkResults gives a
// one-platform result to every platform).
func depTask(dep []int, tasks []schedule.Task, w ocispec.Platform) (int, error) {
	for _, i := range dep {
		if platform.Format(tasks[i].Platform) == platform.Format(w) {
			return i, nil
		}
	}
	if len(dep) == 1 {
		return dep[0], nil
	}
	if len(dep) == 0 {
		return 0, fmt.Errorf("is not planned before it")
	}
	return 0, fmt.Errorf("is not built for %s", platform.Format(w))
}

// preferredPlan plans each platform on the node opts.Pins names when
// that node is among the nodes with facts and can build it; the others
// are planned as usual.
func preferredPlan(want []ocispec.Platform, pins map[string]string, facts []schedule.Node, total, down int) (schedule.Plan, error) {
	plan := schedule.Plan{Jobs: make([]schedule.Job, len(want))}
	var rest []ocispec.Platform
	var restAt []int
	for i, w := range want {
		var node []schedule.Node
		for _, f := range facts {
			if f.Name == pins[platform.Format(w)] {
				node = append(node, f)
			}
		}
		one, err := schedule.Assign([]ocispec.Platform{w}, node)
		if len(node) == 0 || err != nil {
			rest, restAt = append(rest, w), append(restAt, i)
			continue
		}
		one.Jobs[0].Reason = "the bake's joint plan: " + one.Jobs[0].Reason
		plan.Jobs[i] = one.Jobs[0]
		plan.Makespan = max(plan.Makespan, one.Makespan)
	}
	if len(rest) > 0 {
		more, err := makePlan(rest, facts, total, down)
		if err != nil {
			return more, err
		}
		for k, j := range more.Jobs {
			plan.Jobs[restAt[k]] = j
		}
		plan.Makespan = max(plan.Makespan, more.Makespan)
	}
	return plan, nil
}
