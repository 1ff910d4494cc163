package farm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/schedule"
)

// planner plans a build with the facts known of the nodes and opens only
// the nodes the plan uses: fresh known facts stand in for the others.
type planner struct {
	conns   []config.Connection
	open    engine.Opener
	opts    BuildOptions
	log     *slog.Logger
	timeout time.Duration
	maxAge  time.Duration
	now     time.Time

	mu       sync.Mutex
	nodes    map[string]*Node     // open
	facts    map[string]NodeFacts // what planning uses: known or seen
	seen     map[string]time.Time // when facts were learned
	down     map[string]bool      // could not be opened this time
	observed []ObservedNode
	// deferred are connections without fresh facts that failed lately:
	// opened only when the others cannot serve every platform.
	deferred []config.Connection
}

func newPlanner(conns []config.Connection, open engine.Opener, opts BuildOptions) *planner {
	p := &planner{conns: conns, open: open, opts: opts, log: opts.Logger, timeout: opts.ConnectTimeout, maxAge: opts.FactsMaxAge,
		now: time.Now(), nodes: map[string]*Node{}, facts: map[string]NodeFacts{}, seen: map[string]time.Time{}, down: map[string]bool{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.timeout == 0 {
		p.timeout = 20 * time.Second
	}
	if p.maxAge == 0 {
		p.maxAge = DefaultFactsMaxAge
	}
	return p
}

// learn takes the fresh known facts and opens the connections without
// them, in parallel.
func (p *planner) learn(ctx context.Context) error {
	if len(p.conns) == 0 {
		return fmt.Errorf("%w: add one with farm connection add NAME ssh://user@host, or pass --local", errdefs.ErrNoConnections)
	}
	var stale []config.Connection
	for _, c := range p.conns {
		k, ok := p.opts.KnownNodes[c.Name]
		if ok && k.URI == c.URI && !k.Seen.IsZero() && p.now.Sub(k.Seen) < p.maxAge {
			p.facts[c.Name], p.seen[c.Name] = k.Facts, k.Seen
			continue
		}
		if ok && k.URI == c.URI && p.failedLately(k) {
			p.deferred = append(p.deferred, c)
			continue
		}
		stale = append(stale, c)
	}
	p.openAll(ctx, stale)
	return ctx.Err()
}

// failedLately reports whether a known node failed within the facts'
// bound and was not seen since.
func (p *planner) failedLately(k KnownNode) bool {
	return !k.LastFailure.IsZero() && p.now.Sub(k.LastFailure) < p.maxAge && k.LastFailure.After(k.Seen)
}

// openAll opens the connections in parallel, at most 16 at a time, and
// keeps what it learns; those that cannot be opened are left out.
func (p *planner) openAll(ctx context.Context, conns []config.Connection) []*Node {
	var g errgroup.Group
	g.SetLimit(16)
	var opened []*Node
	for _, c := range conns {
		g.Go(func() error {
			p.log.Info("opening node", "node", c.Name)
			nctx, cancel := context.WithTimeout(ctx, p.timeout)
			defer cancel()
			var n *Node
			var err error
			if p.opts.Pool != nil {
				n, err = p.opts.Pool.open(nctx, c, p.open)
			} else {
				n, err = openWithRetry(nctx, c, p.open)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if err != nil {
				p.down[c.Name] = true
				if ctx.Err() != nil {
					return nil // canceled: nothing learned of the node
				}
				p.log.Warn("leaving out a node that cannot be reached", "node", c.Name, "error", err)
				p.observed = append(p.observed, ObservedNode{Name: c.Name, URI: c.URI, Failed: time.Now(), Error: err.Error()})
				return nil
			}
			p.keep(c, n)
			opened = append(opened, n)
			return nil
		})
	}
	_ = g.Wait()
	return opened
}

// keep records an opened node (under p.mu) and says when it is not the
// node its known facts describe.
func (p *planner) keep(c config.Connection, n *Node) {
	f, id := FactsOf(n), identityOf(n)
	if old, planned := p.facts[c.Name]; planned {
		if k := p.opts.KnownNodes[c.Name]; k.Identity != "" && k.Identity != id {
			p.log.Warn("node is not the one its facts were seen on: planning again", "node", c.Name, "was", k.Identity, "now", id)
		} else if !samePlatforms(old, f) {
			p.log.Warn("node's platforms changed since its facts were seen: planning again", "node", c.Name)
		}
	}
	p.nodes[c.Name], p.facts[c.Name], p.seen[c.Name] = n, f, time.Now()
	p.observed = append(p.observed, ObservedNode{Name: c.Name, URI: c.URI, Identity: id, Facts: f, Seen: p.seen[c.Name]})
}

func identityOf(n *Node) string {
	if n.Conn == nil {
		return ""
	}
	return n.Conn.Identity()
}

// schedule plans on the nodes with facts that were not found down; a node
// that failed lately and was not reached this time is left out when the
// others serve every platform.
func (p *planner) schedule() (schedule.Plan, error) {
	var all, trusted []schedule.Node
	for _, c := range p.conns {
		f, ok := p.facts[c.Name]
		if !ok || p.down[c.Name] || !engineAllowed(f.Kind, p.opts) {
			continue
		}
		running := 0
		if n := p.nodes[c.Name]; n != nil {
			running = n.Info.RunningBuilds
		}
		sn := scheduleNode(c.Name, f, running, p.opts)
		all = append(all, sn)
		if k := p.opts.KnownNodes[c.Name]; p.nodes[c.Name] != nil || !p.failedLately(k) {
			trusted = append(trusted, sn)
		}
	}
	if len(p.opts.Linked) > 0 {
		return pinnedPlan(p.opts.Platforms, p.opts.Linked, all)
	}
	if len(p.opts.Pins) > 0 && len(p.opts.Platforms) > 0 {
		return preferredPlan(p.opts.Platforms, p.opts.Pins, all, len(p.conns), len(p.down))
	}
	if len(trusted) < len(all) && len(trusted) > 0 {
		if plan, err := makePlan(p.opts.Platforms, trusted, len(p.conns), len(p.down)); err == nil {
			return plan, nil
		}
	}
	return makePlan(p.opts.Platforms, all, len(p.conns), len(p.down))
}

// plan plans the build and opens the nodes it uses (with flags to check,
// every node that could build one of the platforms), planning again
// while one cannot be opened or is not what its facts said. Each round
// opens at least one more node, so it ends.
func (p *planner) plan(ctx context.Context) (schedule.Plan, error) {
	for {
		plan, err := p.schedule()
		if err != nil && len(p.deferred) > 0 && ctx.Err() == nil {
			// The nodes that failed lately are the last resort.
			deferred := p.deferred
			p.deferred = nil
			p.openAll(ctx, deferred)
			continue
		}
		if err != nil {
			return plan, err
		}
		need := map[string]bool{}
		for _, j := range plan.Jobs {
			need[j.Node] = true
		}
		if len(p.opts.Instructions.Flags()) > 0 {
			for name, f := range p.facts {
				if !p.down[name] && engineAllowed(f.Kind, p.opts) && couldBuild(f, p.opts.Platforms) {
					need[name] = true
				}
			}
		}
		var toOpen []config.Connection
		for _, c := range p.conns {
			if need[c.Name] && p.nodes[c.Name] == nil {
				toOpen = append(toOpen, c)
			}
		}
		if len(toOpen) == 0 {
			return plan, checkFlags(allowedNodes(p.openNodes(), p.opts), p.opts.Platforms, p.opts.Instructions)
		}
		p.openAll(ctx, toOpen)
		if err := ctx.Err(); err != nil {
			return schedule.Plan{}, err
		}
	}
}

// openRest opens the connections not tried yet, for a platform that the
// open nodes cannot take over.
func (p *planner) openRest(ctx context.Context) []*Node {
	var rest []config.Connection
	p.mu.Lock()
	for _, c := range p.conns {
		if p.nodes[c.Name] == nil && !p.down[c.Name] {
			rest = append(rest, c)
		}
	}
	p.mu.Unlock()
	return p.openAll(ctx, rest)
}

// openNodes are the open nodes, in the order of the connections.
func (p *planner) openNodes() []*Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Node
	for _, c := range p.conns {
		if n := p.nodes[c.Name]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

// observedNodes is what this build learned by contacting nodes.
func (p *planner) observedNodes() []ObservedNode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ObservedNode(nil), p.observed...)
}

// factsSeen says when the facts of each node planned with were learned.
func (p *planner) factsSeen(name string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[name]
}

// close closes the nodes it opened, or gives them back to the pool.
func (p *planner) close() {
	if p.opts.Pool != nil {
		p.opts.Pool.release(p.openNodes())
		return
	}
	closeNodes(p.openNodes())
}
