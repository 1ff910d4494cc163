package farm

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// bakePlanString renders a bake plan as target:platform@node lines.
func bakePlanString(p *BakePlan) string {
	var out []string
	for _, j := range p.Jobs {
		out = append(out, j.Target+":"+j.Platform+"@"+j.Node)
	}
	return strings.Join(out, " ")
}

// A base and two images that start from it, for two platforms, on two
// nodes with fresh facts: one platform's three builds on each node, each
// dependent with its base's result, and no node contacted.
func TestPlanBake(t *testing.T) {
	both := []ocispec.Platform{amd64, arm64}
	targets := []BakePlanTarget{
		{Name: "base", Platforms: both, Engines: []string{"fake"}},
		{Name: "app", Deps: []string{"base"}, Platforms: both},
		{Name: "tool", Deps: []string{"base"}},
		{Name: "other", Platforms: []ocispec.Platform{amd64}},
	}
	tests := []struct {
		name   string
		docker bool // a third node of another engine kind
		plan   string
	}{
		{"two nodes", false, "base:linux/amd64@n2 base:linux/arm64@n1 app:linux/amd64@n2 app:linux/arm64@n1 tool:linux/amd64@n2 tool:linux/arm64@n1 other:linux/amd64@n2"},
		{"the base only on its engine's nodes, the independent target elsewhere", true,
			"base:linux/amd64@n2 base:linux/arm64@n1 app:linux/amd64@n2 app:linux/arm64@n1 tool:linux/amd64@n2 tool:linux/arm64@n1 other:linux/amd64@n3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 2
			if tt.docker {
				n = 3
			}
			conns, known := farmOf(n, time.Now().Add(-time.Minute))
			for name, k := range known {
				k.Facts.Emulated = []ocispec.Platform{arm64}
				if name == "n3" {
					k.Facts.Kind = "docker"
				}
				known[name] = k
			}
			f := &countingFarm{}
			plan, err := PlanBake(context.Background(), conns, f.open, targets, BuildOptions{KnownNodes: known, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if got := bakePlanString(plan); got != tt.plan {
				t.Errorf("plan = %s\nwant   %s", got, tt.plan)
			}
			if f.opens() != 0 || len(plan.Nodes) != 0 {
				t.Errorf("fresh facts, yet opened %v", f.opened)
			}
			for _, j := range plan.Jobs {
				if j.FactsSeen.IsZero() || j.Reason == "" {
					t.Errorf("job %+v: no facts age or reason", j)
				}
			}
			want, pins := plan.Pins("tool")
			if len(want) != 2 || pins["linux/arm64"] != "n1" {
				t.Errorf("Pins(tool) = %v, %v", want, pins)
			}
		})
	}
}

// Stale facts are learned by opening the nodes; a dependent not built
// for a platform of its own is a usage error.
func TestPlanBakeOpensStaleNodesAndChecksPlatforms(t *testing.T) {
	conns, known := farmOf(2, time.Now().Add(-2*time.Hour))
	f := &countingFarm{}
	plan, err := PlanBake(context.Background(), conns, f.open, []BakePlanTarget{{Name: "a"}}, BuildOptions{KnownNodes: known})
	if err != nil || f.opens() != 2 || len(plan.Nodes) != 2 || bakePlanString(plan) != "a:linux/amd64@n1" {
		t.Fatalf("opened %v, plan %+v, %v", f.opened, plan, err)
	}
	conns, known = farmOf(2, time.Now())
	targets := []BakePlanTarget{{Name: "a", Platforms: []ocispec.Platform{amd64, arm64}}, {Name: "b", Deps: []string{"a"}, Platforms: []ocispec.Platform{{OS: "linux", Architecture: "s390x"}}}}
	if _, err := PlanBake(context.Background(), conns, f.open, targets, BuildOptions{KnownNodes: known}); err == nil || !strings.Contains(err.Error(), "its dependency a is not built for linux/s390x") {
		t.Errorf("error = %v", err)
	}
}

// A build pinned by the joint plan goes to its pinned node, even when
// another is faster; a pinned node that is down is replaced.
func TestBuildFollowsItsPins(t *testing.T) {
	conns, known := farmOf(3, time.Now())
	f := &countingFarm{}
	pins := map[string]string{"linux/amd64": "n3"}
	res, err := buildWith(t, f, conns, known, BuildOptions{Pins: pins, Weights: map[string]float64{"n1": 10}})
	if err != nil || res.Platforms[0].Node != "n3" || fmt.Sprint(f.opened) != "[n3]" {
		t.Fatalf("opened %v, result %+v, %v", f.opened, res, err)
	}
	f = &countingFarm{down: map[string]bool{"n3": true}}
	res, err = buildWith(t, f, conns, known, BuildOptions{Pins: pins, Weights: map[string]float64{"n1": 10}})
	if err != nil || res.Platforms[0].Node != "n1" {
		t.Fatalf("a pinned node down: opened %v, result %+v, %v", f.opened, res, err)
	}
}

// Builds that share a pool open each node once, and leave it open until
// the pool is closed; a node that died is left out of the pool.
func TestPoolOpensEachNodeOnce(t *testing.T) {
	conns, known := farmOf(2, time.Now())
	f := &countingFarm{}
	pool := NewNodePool()
	for range 3 {
		if _, err := buildWith(t, f, conns, known, BuildOptions{Pool: pool, Pins: map[string]string{"linux/amd64": "n2"}}); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(f.opened) != "[n2]" || f.builders["n2"].closed.Load() {
		t.Fatalf("three builds with a pool opened %v (closed: %v)", f.opened, f.builders["n2"].closed.Load())
	}
	pool.Close()
	if !f.builders["n2"].closed.Load() {
		t.Error("closing the pool left its node open")
	}
	f = &countingFarm{dying: "n1"}
	pool = NewNodePool()
	defer pool.Close()
	for range 2 {
		if _, err := buildWith(t, f, conns, known, BuildOptions{Pool: pool, Pins: map[string]string{"linux/amd64": "n1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(f.opened) != "[n1 n2 n1]" {
		t.Errorf("a node that died must be opened again by the next build: opened %v", f.opened)
	}
	// Two builds at once have a connection each; both are kept after.
	f = &countingFarm{}
	pool = NewNodePool()
	defer pool.Close()
	a, errA := pool.open(context.Background(), conns[0], f.open)
	b, errB := pool.open(context.Background(), conns[0], f.open)
	if errA != nil || errB != nil || a == b || f.opens() != 2 {
		t.Fatalf("two builds at once share a connection, or: %v %v", errA, errB)
	}
	pool.release([]*Node{a, b})
	for range 2 {
		if _, err := pool.open(context.Background(), conns[0], f.open); err != nil || f.opens() != 2 {
			t.Errorf("released nodes not given out again: %d opens, %v", f.opens(), err)
		}
	}
	// An idle node that no longer answers is replaced.
	pool.release([]*Node{a})
	a.Builder.(archEngine).dead.Store(true)
	if n, err := pool.open(context.Background(), conns[0], f.open); err != nil || n == a || f.opens() != 3 {
		t.Errorf("a dead idle node was given out: %d opens, %v", f.opens(), err)
	}
}
