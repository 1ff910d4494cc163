package schedule

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/platform"
)

func p(s string) ocispec.Platform { return platforms.MustParse(s) }

func ps(list string) []ocispec.Platform {
	var out []ocispec.Platform
	for _, s := range strings.Split(list, ",") {
		out = append(out, p(s))
	}
	return out
}

func node(name, native, emulated string, cpus int) Node {
	n := Node{Name: name, Native: p(native), CPUs: cpus}
	if emulated != "" {
		n.Emulated = ps(emulated)
	}
	return n
}

// planString renders a plan as "platform@node" or "platform@node(emu)".
func planString(pl Plan) string {
	var out []string
	for _, j := range pl.Jobs {
		s := platform.Format(j.Platform) + "@" + j.Node
		if j.Emulated {
			s += "(emu)"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestAssign(t *testing.T) {
	amd := func(name string) Node { return node(name, "linux/amd64", "linux/arm64,linux/arm/v7", 4) }
	tests := []struct {
		name  string
		want  string
		nodes []Node
		plan  string
	}{
		{"arm64 matches a node reporting arm64/v8", "linux/arm64", []Node{node("a", "linux/arm64/v8", "", 4)}, "linux/arm64@a"},
		{"arm64/v8 matches a node reporting arm64", "linux/arm64/v8", []Node{node("a", "linux/arm64", "", 4)}, "linux/arm64@a"},
		{"two platforms on one node are both kept", "linux/amd64,linux/arm64", []Node{amd("a")}, "linux/amd64@a linux/arm64@a(emu)"},
		{"native wins over emulation", "linux/arm64,linux/amd64", []Node{amd("a"), node("z", "linux/arm64", "", 1)}, "linux/arm64@z linux/amd64@a"},
		{"emulation spreads to the idle node", "linux/amd64,linux/arm64", []Node{amd("a"), amd("b")}, "linux/amd64@b linux/arm64@a(emu)"},
		{"equal nodes share native work", "linux/amd64,linux/amd64/v2", []Node{node("a", "linux/amd64/v3", "", 4), node("b", "linux/amd64/v3", "", 4)}, "linux/amd64@a linux/amd64/v2@b"},
		{"more CPUs take more work, not all of it", "linux/amd64,linux/amd64/v2,linux/amd64/v3", []Node{node("small", "linux/amd64/v3", "", 1), node("big", "linux/amd64/v3", "", 8)}, "linux/amd64@big linux/amd64/v2@big linux/amd64/v3@small"},
		{"weight counts like speed", "linux/amd64,linux/amd64/v2", []Node{weighted(node("a", "linux/amd64/v3", "", 4), 4), node("b", "linux/amd64/v3", "", 4)}, "linux/amd64@a linux/amd64/v2@a"},
		{"running builds make a node busy", "linux/amd64", []Node{running(node("a", "linux/amd64", "", 4), 2), node("b", "linux/amd64", "", 4)}, "linux/amd64@b"},
		{"warm cache wins a tie", "linux/amd64", []Node{node("a", "linux/amd64", "", 4), history(node("b", "linux/amd64", "", 4), "linux/amd64", time.Minute/2)}, "linux/amd64@b"},
		{"the node that was faster last time wins", "linux/amd64", []Node{history(node("a", "linux/amd64", "", 4), "linux/amd64", time.Hour), history(node("b", "linux/amd64", "", 4), "linux/amd64", 10*time.Minute)}, "linux/amd64@b"},
		{"without other history the warm node keeps its platform", "linux/amd64", []Node{history(node("a", "linux/amd64", "", 4), "linux/amd64", time.Hour), node("b", "linux/amd64", "", 4)}, "linux/amd64@a"},
		{"history elsewhere scales the estimate", "linux/arm64,linux/amd64", []Node{history(amd("a"), "linux/arm64", 10*time.Minute), amd("b")}, "linux/arm64@a(emu) linux/amd64@b"},
		{"arm means arm/v7", "linux/arm", []Node{amd("a")}, "linux/arm/v7@a(emu)"},
		{"arm/v6 served by arm/v7 emulation", "linux/arm/v6", []Node{amd("a")}, "linux/arm/v6@a(emu)"},
		{"amd64 node does not natively build 386 unless probed", "linux/386", []Node{amd("a"), node("b", "linux/amd64", "linux/386", 1)}, "linux/386@b(emu)"},
		{"a probed 32-bit mode wins over emulation", "linux/386", []Node{node("b", "linux/amd64", "linux/386", 8), compat(node("a", "linux/amd64", "", 1), "linux/386")}, "linux/386@a"},
		{"arm64 with a 32-bit mode builds arm/v7 and v6 natively", "linux/arm/v7,linux/arm/v6", []Node{amd("x"), compat(node("a", "linux/arm64", "", 4), "linux/arm/v7")}, "linux/arm/v7@a linux/arm/v6@a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Assign(ps(tt.want), tt.nodes)
			if err != nil {
				t.Fatal(err)
			}
			if got := planString(plan); got != tt.plan {
				t.Errorf("plan = %s, want %s", got, tt.plan)
			}
		})
	}
}

func weighted(n Node, w float64) Node { n.Weight = w; return n }

func compat(n Node, list string) Node { n.Compatible = ps(list); return n }

func running(n Node, r int) Node { n.Running = r; return n }

func history(n Node, platform string, d time.Duration) Node {
	if n.History == nil {
		n.History = map[string]time.Duration{}
	}
	n.History[platform] = d
	return n
}

func TestAssignMakespan(t *testing.T) {
	// Four equal native nodes, eight equal platforms: two each.
	var nodes []Node
	for _, name := range []string{"a", "b", "c", "d"} {
		nodes = append(nodes, node(name, "linux/amd64/v3", "", 1))
	}
	plan, err := Assign(ps("linux/amd64,linux/amd64,linux/amd64/v2,linux/amd64/v2,linux/amd64/v3,linux/amd64/v3,linux/386,linux/386"), append(nodes, node("e", "linux/386", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, j := range plan.Jobs {
		perNode[j.Node]++
	}
	if plan.Makespan != 2*defaultBuild {
		t.Errorf("makespan = %s, want %s (%v)", plan.Makespan, 2*defaultBuild, perNode)
	}
	if !strings.Contains(plan.Jobs[0].Reason, "earliest finish of 4 capable nodes") {
		t.Errorf("reason = %q", plan.Jobs[0].Reason)
	}
}

func TestAssignUnservable(t *testing.T) {
	_, err := Assign(ps("linux/amd64,linux/s390x,linux/ppc64le"), []Node{
		node("a", "linux/amd64", "linux/arm64", 2),
		node("b", "linux/arm64", "", 2),
	})
	var ue *UnservableError
	if !errors.As(err, &ue) {
		t.Fatalf("error = %v", err)
	}
	want := "no node can build linux/s390x, linux/ppc64le; the farm can build: a: linux/amd64, linux/arm64 (emulated); b: linux/arm64"
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if _, err := Assign(ps("linux/amd64"), nil); err == nil || !strings.Contains(err.Error(), "no nodes") {
		t.Errorf("no nodes: %v", err)
	}
}

func TestAssignIsDeterministic(t *testing.T) {
	var nodes []Node
	for i := range 12 {
		nodes = append(nodes, node(fmt.Sprintf("n%02d", i), []string{"linux/amd64", "linux/arm64"}[i%2], "linux/arm/v7,linux/s390x", 1+i%3))
	}
	want := ps("linux/amd64,linux/arm64,linux/arm/v7,linux/s390x,linux/amd64,linux/arm64")
	first, err := Assign(want, nodes)
	if err != nil {
		t.Fatal(err)
	}
	for r := range 20 {
		shuffled := append([]Node(nil), nodes[r%12:]...)
		shuffled = append(shuffled, nodes[:r%12]...)
		again, err := Assign(want, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if planString(again) != planString(first) {
			t.Fatalf("plan depends on node order:\n%s\n%s", planString(first), planString(again))
		}
	}
}

func TestNativePlatforms(t *testing.T) {
	got := NativePlatforms([]Node{node("a", "linux/arm64/v8", "", 1), node("b", "linux/amd64", "linux/arm64", 1), node("c", "linux/arm64", "", 1)})
	var names []string
	for _, p := range got {
		names = append(names, platform.Format(p))
	}
	if strings.Join(names, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("NativePlatforms = %v", names)
	}
}
