package farm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/buildcontext/nodecache"
	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
)

// PruneOptions control Prune.
type PruneOptions struct {
	// Built holds, per node identity (transport.Conn.Identity: host key
	// and socket, so a connection name pointed at another machine finds
	// nothing), the names farm gave the images it built there and the
	// layer images its builds created, children before parents: the only
	// images Prune ever removes.
	Built map[string][]string
	// Keep holds, per node identity, images never to remove: those of the
	// newest pushed list.
	Keep map[string]map[string]bool
	// DryRun lists what would be removed, removing nothing.
	DryRun bool
	// Timeout bounds each node; zero means 2 minutes.
	Timeout time.Duration
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// NodePrune is what Prune did, or would do, on one node.
type NodePrune struct {
	Node string `json:"node"`
	// Removed are the IDs of the images removed (or to remove).
	Removed []string `json:"removed"`
	// Kept counts farm's images left in place on purpose.
	Kept int `json:"kept"`
	// FreedBytes is the disk space freed; -1 with DryRun.
	FreedBytes int64 `json:"freedBytes"`
	// Error says why the node could not be pruned.
	Error string `json:"error,omitempty"`
	// ContextCache is the node's context cache (the SSH user's): its size
	// and what was freed; nil when the node could not be reached.
	ContextCache *ContextCacheUsage `json:"contextCache,omitempty"`
}

// ContextCacheUsage is what Prune found, and freed, of a node's context
// cache.
type ContextCacheUsage struct {
	nodecache.Usage
	// Error says why the cache could not be read or emptied.
	Error string `json:"error,omitempty"`
}

// Prune removes from every node the images farm's records say it built
// there (and only those), except the ones opts keeps, and empties the
// node's context cache (package buildcontext/nodecache). Nodes are
// pruned in parallel; one that cannot be reached is reported and does not
// stop the others.
func Prune(ctx context.Context, conns []config.Connection, open engine.Opener, opts PruneOptions) ([]NodePrune, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Minute
	}
	out := make([]NodePrune, len(conns))
	down := make([]bool, len(conns))
	var g errgroup.Group
	g.SetLimit(8)
	for i, c := range conns {
		g.Go(func() error {
			nctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			out[i], down[i] = pruneNode(nctx, c, open, opts)
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return out, err
	}
	var errs []error
	for i, p := range out {
		switch {
		case down[i]:
			errs = append(errs, fmt.Errorf("%s: %s: %w", p.Node, p.Error, errdefs.ErrNodeDown))
		case p.Error != "":
			errs = append(errs, fmt.Errorf("%s: %s", p.Node, p.Error))
		}
	}
	return out, errors.Join(errs...)
}

// pruneNode prunes one node; down reports that it could not be reached.
func pruneNode(ctx context.Context, c config.Connection, open engine.Opener, opts PruneOptions) (res NodePrune, down bool) {
	res = NodePrune{Node: c.Name, Removed: []string{}}
	n, err := OpenNode(ctx, c, open)
	if err != nil {
		res.Error = err.Error()
		return res, true
	}
	defer n.Close()
	// The context cache last, so that what it frees is not counted as the
	// images'.
	defer func() {
		u, err := nodecache.Prune(ctx, n.Conn, opts.DryRun)
		res.ContextCache = &ContextCacheUsage{Usage: u}
		if err != nil {
			res.ContextCache.Error = err.Error()
		}
	}()
	id := n.Conn.Identity()
	present, err := n.Builder.Existing(ctx, opts.Built[id])
	if err != nil {
		res.Error = err.Error()
		return res, false
	}
	for _, ref := range present {
		if opts.Keep[id][ref] {
			res.Kept++
			continue
		}
		res.Removed = append(res.Removed, ref)
	}
	if opts.DryRun || len(res.Removed) == 0 {
		res.FreedBytes = -1
		if len(res.Removed) == 0 {
			res.FreedBytes = 0
		}
		return res, false
	}
	before := FreeSpace(ctx, n.Conn, n.Info.StorageRoot)
	if err := n.Builder.Remove(ctx, res.Removed); err != nil {
		res.Error = err.Error()
	}
	// A layer image that an image farm keeps still depends on stays: count
	// only what is gone.
	if still, err := n.Builder.Existing(ctx, res.Removed); err == nil && len(still) > 0 {
		left := map[string]bool{}
		for _, id := range still {
			left[id] = true
		}
		gone := res.Removed[:0]
		for _, id := range res.Removed {
			if !left[id] {
				gone = append(gone, id)
			}
		}
		res.Removed = gone
		res.Kept += len(still)
	}
	if after := FreeSpace(ctx, n.Conn, n.Info.StorageRoot); before >= 0 && after >= before {
		res.FreedBytes = after - before
	}
	return res, false
}
