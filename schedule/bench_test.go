package schedule

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/platform"
)

// simulatedFarm is 200 nodes of mixed architectures, sizes and weights,
// some busy, some with history; and 12 platforms, some requested twice
// (as separate targets would be).
func simulatedFarm() ([]ocispec.Platform, []Node) {
	r := rand.New(rand.NewSource(42))
	natives := []string{"linux/amd64", "linux/amd64/v3", "linux/arm64", "linux/ppc64le", "linux/s390x"}
	emulated := ps("linux/arm/v7,linux/arm/v6,linux/riscv64,linux/386,linux/mips64le,linux/arm64,linux/amd64")
	var nodes []Node
	for i := range 200 {
		n := node(fmt.Sprintf("node%03d", i), natives[r.Intn(len(natives))], "", 1<<r.Intn(6))
		if r.Intn(3) == 0 {
			n.Emulated = emulated
		}
		n.Weight = 0.5 + r.Float64()
		n.Running = r.Intn(3)
		if r.Intn(4) == 0 {
			n.History = map[string]time.Duration{platform.Format(n.Native): time.Duration(30+r.Intn(600)) * time.Second}
		}
		nodes = append(nodes, n)
	}
	want := ps("linux/amd64,linux/arm64,linux/arm/v7,linux/arm/v6,linux/ppc64le,linux/s390x,linux/riscv64,linux/386,linux/amd64/v2,linux/amd64/v3,linux/mips64le,linux/arm64/v8")
	return want, nodes
}

// lowerBound is a bound no schedule can beat: no job finishes before its
// fastest possible build after its node's running builds, and all the work
// cannot finish before it is spread evenly over every node.
func lowerBound(want []ocispec.Platform, nodes []Node) time.Duration {
	nodes = sortedNodes(nodes)
	est := newEstimator(nodes)
	var longest, total time.Duration
	for _, p := range want {
		cands, emulated := candidates(p, nodes)
		best := time.Duration(-1)
		for _, k := range cands {
			e := time.Duration(nodes[k].Running)*est.estimate(ocispec.Platform{}, nodes[k], false) + est.estimate(p, nodes[k], emulated)
			if best < 0 || e < best {
				best = e
			}
		}
		total += best
		longest = max(longest, best)
	}
	return max(longest, total/time.Duration(len(nodes)))
}

// BenchmarkAssign200x12 reports the scheduler's run time and its makespan
// against the lower bound (1.00 is optimal).
func BenchmarkAssign200x12(b *testing.B) {
	want, nodes := simulatedFarm()
	var plan Plan
	var err error
	for b.Loop() {
		if plan, err = Assign(want, nodes); err != nil {
			b.Fatal(err)
		}
	}
	lb := lowerBound(want, nodes)
	b.ReportMetric(float64(plan.Makespan)/float64(lb), "makespan/lowerbound")
	b.ReportMetric(plan.Makespan.Seconds(), "makespan-s")
}

func TestSimulatedFarmNearLowerBound(t *testing.T) {
	want, nodes := simulatedFarm()
	plan, err := Assign(want, nodes)
	if err != nil {
		t.Fatal(err)
	}
	if lb := lowerBound(want, nodes); plan.Makespan < lb || float64(plan.Makespan) > 1.5*float64(lb) {
		t.Errorf("makespan %s against lower bound %s", plan.Makespan, lb)
	}
}
