package farm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

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
}

// Plan opens the farm's nodes and returns where each platform would be
// built, without building anything.
func Plan(ctx context.Context, conns []config.Connection, open engine.Opener, opts BuildOptions) ([]PlannedJob, error) {
	nodes, plan, err := openAndPlan(ctx, conns, open, opts)
	if err != nil {
		return nil, err
	}
	closeNodes(nodes)
	out := make([]PlannedJob, len(plan.Jobs))
	for i, j := range plan.Jobs {
		out[i] = PlannedJob{Platform: platform.Format(j.Platform), Node: j.Node, Emulated: j.Emulated, Reason: j.Reason}
	}
	return out, nil
}

// openAndPlan opens the farm's nodes (leaving out those that cannot be
// reached) and schedules the platforms on them. The caller closes the
// nodes.
func openAndPlan(ctx context.Context, conns []config.Connection, open engine.Opener, opts BuildOptions) ([]*Node, schedule.Plan, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nodes, err := openNodes(ctx, conns, open, opts.ConnectTimeout, log)
	if err != nil {
		return nil, schedule.Plan{}, err
	}
	plan, err := makePlan(opts.Platforms, nodes, len(conns), opts)
	if err == nil {
		err = checkFlags(nodes, opts.Platforms, opts.Instructions)
	}
	if err != nil {
		closeNodes(nodes)
		return nil, schedule.Plan{}, err
	}
	return nodes, plan, nil
}

func closeNodes(nodes []*Node) {
	for _, n := range nodes {
		n.Close()
	}
}

// openNodes opens every connection in parallel and leaves out, with a
// warning, the nodes that cannot be used.
func openNodes(ctx context.Context, conns []config.Connection, open engine.Opener, timeout time.Duration, log *slog.Logger) ([]*Node, error) {
	if len(conns) == 0 {
		return nil, fmt.Errorf("%w: add one with farm connection add NAME ssh://user@host, or pass --local", errdefs.ErrNoConnections)
	}
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	opened := make([]*Node, len(conns))
	var g errgroup.Group
	g.SetLimit(16)
	for i, c := range conns {
		g.Go(func() error {
			nctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			n, err := openWithRetry(nctx, c, open)
			if err != nil {
				log.Warn("leaving out a node that cannot be reached", "node", c.Name, "error", err)
				return nil
			}
			opened[i] = n
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		for _, n := range opened {
			if n != nil {
				n.Close()
			}
		}
		return nil, err
	}
	var nodes []*Node
	for _, n := range opened {
		if n != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// nodeFacts gathers what the scheduler weighs about the nodes: engine
// facts, the user's weights and the build history.
func nodeFacts(nodes []*Node, opts BuildOptions) []schedule.Node {
	weights, history := opts.Weights, opts.History
	facts := make([]schedule.Node, len(nodes))
	for i, n := range nodes {
		facts[i] = schedule.Node{Name: n.Name, Native: n.Info.Native, Compatible: n.Compatible, Emulated: n.Emulated, CPUs: n.Info.CPUs,
			Running: n.Info.RunningBuilds, Weight: weights[n.Name], History: history[n.Name]}
	}
	return facts
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

// makePlan schedules the platforms on the nodes that answered.
func makePlan(want []ocispec.Platform, nodes []*Node, total int, opts BuildOptions) (schedule.Plan, error) {
	facts := nodeFacts(nodes, opts)
	if len(want) == 0 {
		want = schedule.NativePlatforms(facts)
	}
	if len(nodes) == 0 {
		return schedule.Plan{}, fmt.Errorf("%w: none of the farm's %d nodes can be reached", errdefs.ErrNodeDown, total)
	}
	plan, err := schedule.Assign(want, facts)
	if err != nil {
		if down := total - len(nodes); down > 0 {
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
