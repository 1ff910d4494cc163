package farm

import (
	"context"
	"sync"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
)

// NodePool keeps the nodes that builds opened for the builds after them:
// the targets of a bake run open each node once instead of once per
// target. A build has the nodes it takes to itself until it ends (so
// what it reports of its connection, the context bytes sent, is its
// own): two builds at once on one node use two connections. A node
// found dead is not given out again.
type NodePool struct {
	mu   sync.Mutex
	idle map[string][]*Node // by connection name
	uri  map[*Node]string
	dead map[*Node]bool
	all  []*Node
}

// NewNodePool returns an empty pool; its owner closes it.
func NewNodePool() *NodePool {
	return &NodePool{idle: map[string][]*Node{}, uri: map[*Node]string{}, dead: map[*Node]bool{}}
}

// open takes an idle node of c from the pool that still answers, or
// opens one.
func (p *NodePool) open(ctx context.Context, c config.Connection, open engine.Opener) (*Node, error) {
	for n := p.take(c); n != nil; n = p.take(c) {
		if n.Builder.Ping(ctx) == nil { // once: a dead idle node is replaced at once
			return n, nil
		}
		p.drop(n)
	}
	n, err := openWithRetry(ctx, c, open)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.uri[n] = c.URI
	p.all = append(p.all, n)
	return n, nil
}

// take removes an idle node of c from the pool; nil when there is none.
func (p *NodePool) take(c config.Connection) *Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, n := range p.idle[c.Name] {
		if p.uri[n] == c.URI {
			p.idle[c.Name] = append(p.idle[c.Name][:i:i], p.idle[c.Name][i+1:]...)
			return n
		}
	}
	return nil
}

// release gives a build's nodes back to the pool, but those found dead.
func (p *NodePool) release(nodes []*Node) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range nodes {
		if _, ours := p.uri[n]; ours && !p.dead[n] {
			p.idle[n.Name] = append(p.idle[n.Name], n)
		}
	}
}

// drop marks a node that was found dead: it is not given out again.
func (p *NodePool) drop(n *Node) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead[n] = true
}

// Close closes every node the pool opened.
func (p *NodePool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	closeNodes(p.all)
	p.all, p.idle = nil, map[string][]*Node{}
}
