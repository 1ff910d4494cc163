package cmd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/bake"
	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/manifest"
)

// bakeParallel bounds the targets built at the same time.
const bakeParallel = 4

// runBakeBuild builds the definition's targets in dependency order.
func runBakeBuild(ctx context.Context, ro *rootOptions, opts *bakeOptions, def *bake.Definition, cmd *cobra.Command) error {
	tmp, err := os.MkdirTemp("", "farm-bake-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	targets, err := targetBuilds(def, opts, tmp)
	if err != nil {
		return err
	}
	for i := range targets {
		targets[i].opts.Logger = ro.logger
		if err := farm.Preflight(ctx, targets[i].opts); err != nil {
			return fmt.Errorf("target %q: %w", targets[i].name, err)
		}
		if err := farm.CheckContainerfile(targets[i].opts); err != nil {
			return fmt.Errorf("target %q: %w", targets[i].name, err)
		}
	}
	farmName, conns, err := ro.store.FarmConnections(opts.farmName)
	if err != nil {
		return err
	}
	local := &localEngine{logger: ro}
	defer local.stop()
	if len(conns) == 0 {
		e, err := local.get(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, config.Connection{Name: "local", URI: "unix://" + e.Socket()})
	}
	known := knownNodes(ro)
	if known == nil {
		known = map[string]farm.KnownNode{}
	}
	cid := ""
	if !opts.dryRun {
		cid = clientID(ro)
	}
	// The targets share one connection to each node.
	pool := farm.NewNodePool()
	defer pool.Close()
	for i := range targets {
		bo := &targets[i].opts
		schedulingFacts(ro, bo)
		bo.KnownNodes, bo.ClientID, bo.Pool = known, cid, pool
		if bo.Output == nil {
			bo.Output = farm.Local{Open: func(ctx context.Context) (manifest.Puller, func(), error) {
				e, err := local.get(ctx)
				return e, func() {}, err
			}}
		}
	}
	plan, err := planBake(ctx, ro, targets, conns)
	if err != nil {
		return err
	}
	if opts.dryRun {
		return writeBakePlan(cmd, plan)
	}
	run := &bakeRun{ro: ro, cmd: cmd, farmName: farmName, conns: conns, id: newRecordID()}
	progressOut := cmd.ErrOrStderr()
	if opts.progress == "json" {
		progressOut = cmd.OutOrStdout()
	}
	if run.renderer, err = newProgress(opts.progress, progressOut); err != nil {
		return err
	}
	run.json = opts.progress == "json"
	fmt.Fprintf(cmd.ErrOrStderr(), "Bake %s (farm logs %s --target TARGET)\n", run.id, run.id)
	var jobs []farm.BakeTarget
	for _, t := range targets {
		deps := slices.Sorted(maps.Values(t.links))
		jobs = append(jobs, farm.BakeTarget{Name: t.name, Deps: slices.Compact(deps), Build: func(ctx context.Context, res map[string]*farm.BuildResult) (*farm.BuildResult, error) {
			return run.build(ctx, t, res)
		}})
	}
	outcomes := farm.Bake(ctx, jobs, bakeParallel)
	order := def.Order
	if run.json {
		for _, name := range order {
			o := outcomes[name]
			e := farm.Event{Time: time.Now(), Type: "result", Target: name, Result: o.Result}
			if o.Err != nil {
				e.Error = OneLine(o.Err)
			}
			run.show(e)
		}
	} else {
		writeBakeSummary(cmd.OutOrStdout(), order, outcomes)
	}
	err = bakeError(order, outcomes)
	if opts.metadata != "" {
		if merr := writeBakeMetadata(opts.metadata, order, outcomes); merr != nil {
			return errors.Join(err, merr)
		}
	}
	return err
}

// bakeRun is what a farm bake run's targets share.
type bakeRun struct {
	ro       *rootOptions
	cmd      *cobra.Command
	farmName string
	conns    []config.Connection
	id       string
	renderer progressRenderer
	json     bool
	mu       sync.Mutex // the display and the node facts, for targets building at once
}

// build builds one target, given its dependencies' results, and records
// it under the run's ID.
func (r *bakeRun) build(ctx context.Context, t bakeTarget, deps map[string]*farm.BuildResult) (*farm.BuildResult, error) {
	bo := t.opts
	conns := r.conns
	if len(t.links) > 0 {
		byContext := map[string]*farm.BuildResult{}
		for name, target := range t.links {
			byContext[name] = deps[target]
		}
		linked, want, err := farm.LinkResults(byContext, bo.Platforms)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", t.name, err)
		}
		bo.Linked, bo.Platforms = linked, want
		conns = nil
		for _, c := range r.conns {
			if slices.Contains(linked.Nodes(), c.Name) {
				conns = append(conns, c)
			}
		}
	}
	var recorder *buildRecorder
	var once sync.Once
	start := func() {
		once.Do(func() {
			// One at a time: it reads the command's flags, which pflag
			// sorts as it visits them.
			r.mu.Lock()
			defer r.mu.Unlock()
			recorder = startRecording(r.cmd, r.farmName, bo.Output.Kind(), r.ro.logger, bakeRef{id: r.id, target: t.name})
		})
	}
	bo.Progress = func(e farm.Event) {
		start()
		recorder.event(e)
		e.Target = t.name
		r.show(e)
	}
	res, err := farm.Build(ctx, conns, r.ro.open, bo)
	if res != nil {
		r.mu.Lock()
		saveNodeFacts(r.ro, res.Nodes)
		r.mu.Unlock()
	}
	if recorder == nil && ExitCode(err) == exitUsage {
		return res, err
	}
	start()
	recorder.finish(res, err)
	return res, err
}

// show passes an event to the display: json events carry their target,
// the others show it before the platform.
func (r *bakeRun) show(e farm.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.json && e.Target != "" {
		if e.Platform != "" {
			e.Platform = e.Target + ":" + e.Platform
		} else if e.Type == "phase" && e.Phase == "storing" {
			e.Output = e.Target + ", " + e.Output
		}
	}
	r.renderer.event(e)
}

// planBake makes the run's joint plan, keeps what it learned of the
// nodes, and pins each target's platforms to the plan's nodes.
func planBake(ctx context.Context, ro *rootOptions, targets []bakeTarget, conns []config.Connection) (*farm.BakePlan, error) {
	if len(targets) == 0 {
		return &farm.BakePlan{}, nil
	}
	var pts []farm.BakePlanTarget
	for _, t := range targets {
		pts = append(pts, farm.BakePlanTarget{Name: t.name, Deps: slices.Compact(slices.Sorted(maps.Values(t.links))),
			Platforms: t.opts.Platforms, Engines: t.opts.Engines, EnginesWhy: "other targets start from its images on the node that built it"})
	}
	shared := targets[0].opts
	shared.Logger = ro.logger
	plan, err := farm.PlanBake(ctx, conns, ro.open, pts, shared)
	if plan != nil {
		saveNodeFacts(ro, plan.Nodes)
		for _, n := range plan.Nodes {
			if n.Identity != "" {
				shared.KnownNodes[n.Name] = farm.KnownNode{URI: n.URI, Identity: n.Identity, Facts: n.Facts, Seen: n.Seen}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	for i := range targets {
		targets[i].opts.Platforms, targets[i].opts.Pins = plan.Pins(targets[i].name)
	}
	return plan, nil
}

// writeBakePlan prints where each target's platforms will be built.
func writeBakePlan(cmd *cobra.Command, plan *farm.BakePlan) error {
	t := newTable(cmd.OutOrStdout(), "TARGET", "PLATFORM", "NODE", "MODE", "FACTS", "WHY")
	now := time.Now()
	for _, j := range plan.Jobs {
		t.row(j.Target, j.Platform, j.Node, mode(j.Emulated), factsAge(j.FactsSeen, now), j.Reason)
	}
	return t.flush()
}
