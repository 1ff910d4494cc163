package farm

import (
	"context"
	"sync"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
)

// NodePool keeps the nodes that builds open for the builds after them:
// the targets of a bake run share one connection to each node, opened
// once, instead of each build opening its own. Nodes are kept by
// connection name and URI; a node found dead is left out of the pool.
type NodePool struct {
	mu    sync.Mutex
	nodes map[string]*Node
	uris  map[string]string
	all   []*Node
}

// NewNodePool returns an empty pool; its owner closes it.
func NewNodePool() *NodePool {
	return &NodePool{nodes: map[string]*Node{}, uris: map[string]string{}}
}

// open returns the pool's node of c, opening it when the pool has none.
// Two builds opening the same node at once both open it; the first kept
// is used, the other closed.
func (p *NodePool) open(ctx context.Context, c config.Connection, open engine.Opener) (*Node, error) {
	p.mu.Lock()
	if n := p.nodes[c.Name]; n != nil && p.uris[c.Name] == c.URI {
		p.mu.Unlock()
		return n, nil
	}
	p.mu.Unlock()
	n, err := openWithRetry(ctx, c, open)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if kept := p.nodes[c.Name]; kept != nil && p.uris[c.Name] == c.URI {
		n.Close()
		return kept, nil
	}
	p.nodes[c.Name], p.uris[c.Name] = n, c.URI
	p.all = append(p.all, n)
	return n, nil
}

// drop leaves a node that was found dead out of the pool: the builds
// after open it again.
func (p *NodePool) drop(n *Node) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nodes[n.Name] == n {
		delete(p.nodes, n.Name)
	}
}

// Close closes every node the pool opened.
func (p *NodePool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	closeNodes(p.all)
	p.all, p.nodes = nil, map[string]*Node{}
}
