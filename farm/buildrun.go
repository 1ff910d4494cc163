package farm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/schedule"
)

// maxAttempts bounds how often one platform is built (first try included)
// when nodes die or connections break.
const maxAttempts = 3

// retryPause is the wait before a platform is built again after its
// connection broke (a variable for the tests).
var retryPause = 2 * time.Second

// dispatcher runs a plan: each node builds its platforms from one upload
// of the context, in parallel with the others. A platform whose node dies
// is scheduled again on the best node left; a broken connection to a live
// node is retried there; a failed build step is not retried, and unless
// KeepGoing it cancels the other builds.
type dispatcher struct {
	ctx    context.Context // the caller's: user cancellation
	bctx   context.Context // canceled when a build fails without KeepGoing
	cancel context.CancelFunc
	opts   BuildOptions
	req    engine.NodeBuild
	nodes  []*Node
	events *emitter
	g      errgroup.Group

	mu     sync.Mutex
	dead   map[string]bool
	jobs   []PlatformResult
	errs   []error
	images []manifest.Image
	built  []*Node // per job: the node holding its image

	// more opens the farm's connections not open yet, for a retry that
	// the open nodes cannot take (once: moreOnce); nil when there are none.
	more     func(context.Context) []*Node
	moreOnce sync.Once
}

// runPlan builds the plan and returns the per-platform results, errors
// and images, index-addressed by job.
func runPlan(ctx context.Context, plan schedule.Plan, nodes []*Node, req engine.NodeBuild, opts BuildOptions) *dispatcher {
	d := newDispatcher(ctx, plan, nodes, req, opts)
	d.run(plan)
	return d
}

// newDispatcher prepares the plan's jobs; run builds them.
func newDispatcher(ctx context.Context, plan schedule.Plan, nodes []*Node, req engine.NodeBuild, opts BuildOptions) *dispatcher {
	d := &dispatcher{ctx: ctx, opts: opts, req: req, nodes: nodes, events: &emitter{fn: opts.Progress}, dead: map[string]bool{}}
	// The caller cancels d.bctx (d.cancel) when it is done with d: recheck
	// may still build.
	d.bctx, d.cancel = context.WithCancel(ctx)
	n := len(plan.Jobs)
	d.jobs, d.errs, d.images, d.built = make([]PlatformResult, n), make([]error, n), make([]manifest.Image, n), make([]*Node, n)
	for i, j := range plan.Jobs {
		d.jobs[i] = PlatformResult{Platform: platform.Format(j.Platform), platform: j.Platform}
		d.events.emit(Event{Type: "phase", Phase: "queued", Platform: d.jobs[i].Platform, Node: j.Node, Emulated: j.Emulated})
	}
	return d
}

// run builds the plan and waits for it, retries included.
func (d *dispatcher) run(plan schedule.Plan) {
	d.dispatchPlan(plan, allJobs(len(plan.Jobs)))
	_ = d.g.Wait()
}

func allJobs(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// dispatchPlan starts one build per node of the plan; idx maps the plan's
// jobs to the dispatcher's.
func (d *dispatcher) dispatchPlan(plan schedule.Plan, idx []int) {
	groups := map[string][]int{}
	emulated := map[int]bool{}
	for k, j := range plan.Jobs {
		groups[j.Node] = append(groups[j.Node], idx[k])
		emulated[idx[k]] = j.Emulated
	}
	names := make([]string, 0, len(groups))
	for name := range groups {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := d.node(name)
		jobs := groups[name]
		d.mu.Lock()
		for _, i := range jobs {
			d.jobs[i].Node, d.jobs[i].Emulated = name, emulated[i]
			d.jobs[i].Attempts++
			d.events.emit(Event{Type: "phase", Phase: "building", Platform: d.jobs[i].Platform, Node: name, Emulated: emulated[i], Attempt: d.jobs[i].Attempts})
		}
		d.mu.Unlock()
		if len(d.opts.Linked) > 0 {
			// Each platform names its own linked images.
			for _, i := range jobs {
				d.g.Go(func() error { d.buildOn(n, []int{i}); return nil })
			}
			continue
		}
		d.g.Go(func() error { d.buildOn(n, jobs); return nil })
	}
}

func (d *dispatcher) node(name string) *Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// buildOn builds the jobs on one node and handles the outcome.
func (d *dispatcher) buildOn(n *Node, jobs []int) {
	r := d.req
	r.Platforms = nil
	for _, i := range jobs {
		r.Platforms = append(r.Platforms, d.jobs[i].platform)
	}
	if len(d.opts.Linked) > 0 {
		r.BuildContexts = maps.Clone(r.BuildContexts)
		if r.BuildContexts == nil {
			r.BuildContexts = map[string]string{}
		}
		maps.Copy(r.BuildContexts, d.opts.Linked.contexts(d.jobs[jobs[0]].Platform))
	}
	timer := newPlatformTimer()
	r.Log = func(p *ocispec.Platform, line string) {
		ev := Event{Type: "log", Node: n.Name, Line: line}
		if p != nil {
			ev.Platform = platform.Format(*p)
			timer.saw(ev.Platform + "@" + n.Name)
		}
		ev.Step, ev.Steps = stepOf(line)
		d.events.emit(ev)
	}
	ctx := d.bctx
	if d.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.opts.Timeout*time.Duration(len(jobs)))
		defer cancel()
	}
	start := time.Now()
	built, err := n.Builder.Build(ctx, r)
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)

	var failed []int
	var done []Event
	d.mu.Lock()
	for _, i := range jobs {
		d.jobs[i].Duration = timer.took(d.jobs[i].Platform+"@"+n.Name, time.Since(start))
		d.jobs[i].Engine, d.jobs[i].EngineVersion = n.Info.Kind, n.Info.Version
		for _, b := range built {
			if platform.Format(b.Platform) == d.jobs[i].Platform {
				d.jobs[i].ImageID, d.images[i], d.built[i] = b.ImageID, imageOf(n, b, d.events), n
				d.jobs[i].Intermediate, d.jobs[i].ImageRef = b.Intermediate, b.Ref
				if n.Conn != nil {
					d.jobs[i].NodeID = n.Conn.Identity()
				}
			}
		}
		if d.jobs[i].ImageID == "" {
			failed = append(failed, i)
		} else {
			done = append(done, Event{Type: "phase", Phase: "done", Platform: d.jobs[i].Platform, Node: n.Name, Emulated: d.jobs[i].Emulated,
				ImageID: d.jobs[i].ImageID, ImageRef: d.jobs[i].ImageRef, NodeID: d.jobs[i].NodeID, Intermediate: d.jobs[i].Intermediate})
		}
	}
	d.mu.Unlock()
	// Emitted outside the lock: retries elsewhere may already change jobs.
	for _, ev := range done {
		d.events.emit(ev)
	}
	if len(failed) == 0 {
		return
	}
	switch {
	case d.ctx.Err() != nil:
		d.fail(failed, n, d.ctx.Err())
	case timedOut:
		d.fail(failed, n, fmt.Errorf("did not finish within --timeout %s per platform", d.opts.Timeout))
		d.stopOthers()
	case d.bctx.Err() != nil:
		d.fail(failed, n, errdefs.ErrCanceled)
	case n.Ping(d.ctx) != nil:
		d.opts.Logger.Warn("node went down during the build: scheduling its platforms elsewhere", "node", n.Name, "error", err)
		d.retry(append(failed, d.markDead(n)...), n, err, true)
	case transportError(err):
		d.opts.Logger.Warn("connection to the node broke: building again", "node", n.Name, "error", err)
		d.retry(failed, n, err, false)
	default:
		for _, i := range failed {
			d.setErr(i, platformError(err, d.jobs[i].Platform, n.Name))
		}
		d.stopOthers()
	}
}

// retry builds failed jobs again: elsewhere when the node is dead, on the
// same node after a pause otherwise, while attempts remain.
func (d *dispatcher) retry(jobs []int, n *Node, cause error, elsewhere bool) {
	var again []int
	for _, i := range jobs {
		if elsewhere && len(d.opts.Linked) > 0 {
			d.setErr(i, &errdefs.BuildError{Platform: d.jobs[i].Platform, Node: n.Name, Err: fmt.Errorf("%w: it held the image a named context gives, so no other node can build it: %w", errdefs.ErrNodeDown, cause)})
			continue
		}
		if d.jobs[i].Attempts >= maxAttempts {
			d.setErr(i, &errdefs.BuildError{Platform: d.jobs[i].Platform, Node: n.Name, Err: fmt.Errorf("%w: gave up after %d attempts: %w", errdefs.ErrNodeDown, d.jobs[i].Attempts, cause)})
			continue
		}
		again = append(again, i)
	}
	if len(again) == 0 {
		d.stopOthers()
		return
	}
	for _, i := range again {
		phase := "retrying"
		if elsewhere {
			phase = "rescheduled"
		}
		d.events.emit(Event{Type: "phase", Phase: phase, Platform: d.jobs[i].Platform, Node: n.Name, Error: cause.Error()})
	}
	if !elsewhere {
		select {
		case <-d.bctx.Done():
			d.fail(again, n, errdefs.ErrCanceled)
			return
		case <-time.After(retryPause):
		}
	}
	want := make([]ocispec.Platform, len(again))
	for k, i := range again {
		want[k] = d.jobs[i].platform
	}
	plan, err := schedule.Assign(want, nodeFacts(d.alive(), d.opts))
	if err != nil && d.more != nil {
		// The open nodes cannot take it: open the rest of the farm, once.
		d.moreOnce.Do(func() {
			var more []*Node
			for _, m := range d.more(d.bctx) {
				// A node opened now takes only a build whose flags it honours.
				if checkFlags([]*Node{m}, d.opts.Platforms, d.opts.Instructions) != nil {
					d.opts.Logger.Warn("leaving out a node that cannot honour the build's flags", "node", m.Name)
					continue
				}
				more = append(more, m)
			}
			d.mu.Lock()
			d.nodes = append(d.nodes, more...)
			d.mu.Unlock()
		})
		plan, err = schedule.Assign(want, nodeFacts(d.alive(), d.opts))
	}
	if err != nil {
		for _, i := range again {
			d.setErr(i, &errdefs.BuildError{Platform: d.jobs[i].Platform, Node: n.Name, Err: fmt.Errorf("%w, and no other node can build it: %w", cause, errdefs.ErrNoCapableNode)})
		}
		d.stopOthers()
		return
	}
	d.dispatchPlan(plan, again)
}

// alive are the open nodes not found dead.
func (d *dispatcher) alive() []*Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	var alive []*Node
	for _, m := range d.nodes {
		if !d.dead[m.Name] {
			alive = append(alive, m)
		}
	}
	return alive
}

// markDead records that n is gone and returns the jobs whose finished
// images were on it: they are lost with it and must be built again.
func (d *dispatcher) markDead(n *Node) []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead[n.Name] = true
	d.opts.Pool.drop(n)
	var lost []int
	for i := range d.jobs {
		if d.built[i] == n && d.jobs[i].ImageID != "" {
			d.jobs[i].ImageID, d.images[i], d.built[i] = "", manifest.Image{}, nil
			lost = append(lost, i)
		}
	}
	return lost
}

// recheck pings the nodes holding finished images before they are stored,
// and builds again elsewhere what a node that went down since held.
func (d *dispatcher) recheck() {
	checked := map[*Node]bool{}
	for i := range d.jobs {
		n := d.built[i]
		if n == nil || checked[n] || d.errs[i] != nil {
			continue
		}
		checked[n] = true
		if err := n.Ping(d.ctx); err != nil {
			d.opts.Logger.Warn("node went down after building: building its platforms again elsewhere", "node", n.Name, "error", err)
			d.retry(d.markDead(n), n, err, true)
		}
	}
	_ = d.g.Wait()
}

func (d *dispatcher) fail(jobs []int, n *Node, err error) {
	for _, i := range jobs {
		d.setErr(i, &errdefs.BuildError{Platform: d.jobs[i].Platform, Node: n.Name, Err: err})
	}
}

func (d *dispatcher) setErr(i int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs[i], d.jobs[i].Error = err, err.Error()
	phase := "failed"
	if errors.Is(err, errdefs.ErrCanceled) || errors.Is(err, context.Canceled) {
		phase = "canceled"
	}
	d.events.emit(Event{Type: "phase", Phase: phase, Platform: d.jobs[i].Platform, Node: d.jobs[i].Node, Emulated: d.jobs[i].Emulated, Error: err.Error()})
}

// stopOthers cancels the other builds unless KeepGoing.
func (d *dispatcher) stopOthers() {
	if !d.opts.KeepGoing {
		d.cancel()
	}
}

// platformError picks the *BuildError for one platform out of a node's
// joined errors, or wraps the node's error.
func platformError(err error, plat, node string) error {
	var joined interface{ Unwrap() []error }
	list := []error{err}
	if errors.As(err, &joined) {
		list = joined.Unwrap()
	}
	for _, e := range list {
		var be *errdefs.BuildError
		if errors.As(e, &be) && be.Platform == plat {
			return be
		}
	}
	return &errdefs.BuildError{Platform: plat, Node: node, Err: err}
}

// imageOf describes a built image for the manifest package, with the
// node operations it needs.
func imageOf(n *Node, b engine.PlatformImage, events *emitter) manifest.Image {
	plat := platform.Format(b.Platform)
	return manifest.Image{
		Platform: b.Platform, Node: n.Name, ImageID: b.ImageID,
		Export: func(ctx context.Context, w io.Writer) error {
			cw := &countingWriter{w: w, report: func(bytes int64, rate float64, final bool) {
				phase := "fetching"
				if final {
					phase = "fetched"
				}
				events.emit(Event{Type: "phase", Phase: phase, Platform: plat, Node: n.Name, Bytes: bytes, Rate: rate})
			}, start: time.Now()}
			err := n.Builder.Export(ctx, b.ImageID, cw)
			cw.finish()
			return err
		},
	}
}
