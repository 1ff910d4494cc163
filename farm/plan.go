package farm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/schedule"
)

// PlannedJob is one line of a build plan.
type PlannedJob struct {
	Platform string `json:"platform"`
	Node     string `json:"node"`
	Emulated bool   `json:"emulated"`
	Reason   string `json:"reason"`
	// FactsSeen is when the facts the node was planned with were learned.
	FactsSeen time.Time `json:"factsSeen,omitzero"`
}

// PlanResult is a plan and what was learned making it.
type PlanResult struct {
	Jobs []PlannedJob `json:"jobs"`
	// Nodes are the nodes contacted for facts that were missing or stale.
	Nodes []ObservedNode `json:"nodes,omitempty"`
}

// Plan returns where each platform would be built, without building
// anything. It contacts only the nodes whose known facts
// (opts.KnownNodes) are missing or stale.
func Plan(ctx context.Context, conns []config.Connection, open engine.Opener, opts BuildOptions) (*PlanResult, error) {
	p := newPlanner(conns, open, opts)
	defer p.close()
	if err := p.learn(ctx); err != nil {
		return nil, err
	}
	plan, err := p.schedule()
	if err != nil && len(p.deferred) > 0 && ctx.Err() == nil {
		// As a build would: the nodes that failed lately are the last resort.
		p.openAll(ctx, p.deferred)
		p.deferred = nil
		plan, err = p.schedule()
	}
	if err == nil {
		err = checkFlags(allowedNodes(p.openNodes(), opts), opts.Platforms, opts.Instructions)
	}
	res := &PlanResult{Nodes: p.observedNodes()}
	if err != nil {
		return res, err
	}
	res.Jobs = make([]PlannedJob, len(plan.Jobs))
	for i, j := range plan.Jobs {
		res.Jobs[i] = PlannedJob{Platform: platform.Format(j.Platform), Node: j.Node, Emulated: j.Emulated, Reason: j.Reason, FactsSeen: p.factsSeen(j.Node)}
	}
	return res, nil
}

// openAndPlan plans the build with the known facts and opens the nodes
// the plan uses (leaving out those that cannot be reached). The caller
// closes the planner, and with it the nodes.
func openAndPlan(ctx context.Context, conns []config.Connection, open engine.Opener, opts BuildOptions) (*planner, schedule.Plan, error) {
	p := newPlanner(conns, open, opts)
	err := p.learn(ctx)
	var plan schedule.Plan
	if err == nil {
		plan, err = p.plan(ctx)
	}
	if err != nil {
		p.close()
		return p, schedule.Plan{}, err
	}
	return p, plan, nil
}

func closeNodes(nodes []*Node) {
	for _, n := range nodes {
		n.Close()
	}
}

// nodeFacts gathers what the scheduler weighs about open nodes: engine
// facts, the user's weights and the build history.
func nodeFacts(nodes []*Node, opts BuildOptions) []schedule.Node {
	facts := make([]schedule.Node, 0, len(nodes))
	for _, n := range nodes {
		if engineAllowed(n.Info.Kind, opts) {
			facts = append(facts, scheduleNode(n.Name, FactsOf(n), n.Info.RunningBuilds, opts))
		}
	}
	return facts
}

// engineAllowed reports whether the build may use a node of this engine
// kind (BuildOptions.Engines).
func engineAllowed(kind string, opts BuildOptions) bool {
	return len(opts.Engines) == 0 || slices.Contains(opts.Engines, kind)
}

// allowedNodes are the nodes of the engine kinds the build may use.
func allowedNodes(nodes []*Node, opts BuildOptions) []*Node {
	var out []*Node
	for _, n := range nodes {
		if engineAllowed(n.Info.Kind, opts) {
			out = append(out, n)
		}
	}
	return out
}

// openWithRetry opens a node, retrying with backoff only while the failure
// looks like a passing network problem: a timeout or a reset. A refused
// port, an unknown or changed host key, a failed login or a missing
// socket is final at once: waiting would not change it, and with many
// nodes one is nearly always down.
func openWithRetry(ctx context.Context, c config.Connection, open engine.Opener) (*Node, error) {
	var err error
	for _, wait := range []time.Duration{0, time.Second, 3 * time.Second} {
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		case <-time.After(wait):
		}
		var n *Node
		if n, err = OpenNode(ctx, c, open); err == nil {
			return n, nil
		}
		if !passingOpenError(err) {
			return nil, err
		}
	}
	return nil, err
}

// makePlan schedules the platforms on the nodes with facts; down of
// the farm's total nodes could not be reached.
func makePlan(want []ocispec.Platform, facts []schedule.Node, total, down int) (schedule.Plan, error) {
	if len(want) == 0 {
		want = schedule.NativePlatforms(facts)
	}
	if len(facts) == 0 {
		return schedule.Plan{}, fmt.Errorf("%w: none of the farm's %d nodes can be reached", errdefs.ErrNodeDown, total)
	}
	plan, err := schedule.Assign(want, facts)
	if err != nil {
		if down > 0 {
			return plan, fmt.Errorf("%w (%d of %d nodes could not be reached): %w", errdefs.ErrNoCapableNode, down, total, err)
		}
		return plan, fmt.Errorf("%w: %w", errdefs.ErrNoCapableNode, err)
	}
	return plan, nil
}

// passingOpenError reports whether opening a node failed in a way that
// may pass: a timeout or a connection reset (or cut) on the way.
func passingOpenError(err error) bool {
	if errors.Is(err, errdefs.ErrHostKey) || errors.Is(err, errdefs.ErrUsage) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ENOENT) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "no such file", "unable to authenticate", "authentication failed", "open failed", "not known"} {
		if strings.Contains(msg, s) {
			return false
		}
	}
	for _, s := range []string{"connection reset", "i/o timeout", "EOF", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
