package farm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
)

// farm status asks a farm of a hundred nodes all at once, and hands each
// node's row over as soon as it is known: a slow node holds up only its
// own.
func TestStatusAsksEveryNodeAtOnceAndStreams(t *testing.T) {
	var conns []config.Connection
	for i := range 40 {
		conns = append(conns, config.Connection{Name: fmt.Sprintf("n%02d", i), URI: fmt.Sprintf("unix:///nonexistent/n%d.sock", i)})
	}
	var waiting atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	open := func(ctx context.Context, l engine.Link) (engine.Builder, error) {
		if waiting.Add(1) == int32(len(conns)) {
			once.Do(func() { close(all) })
		}
		if l.Node() == "n00" {
			// The slow node answers only after every other one.
			time.Sleep(200 * time.Millisecond)
		}
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("not every node was asked at once")
		}
		return &fakeBuilder{name: l.Node()}, nil
	}
	var order []string
	nodes, err := Status(context.Background(), conns, open, StatusOptions{OnNode: func(s NodeStatus) { order = append(order, s.Name) }})
	if err != nil || len(nodes) != len(conns) {
		t.Fatalf("Status: %v (%d nodes)", err, len(nodes))
	}
	if len(order) != len(conns) || order[len(order)-1] != "n00" {
		t.Errorf("rows must come as nodes answer, the slow one last: %v", order)
	}
}
