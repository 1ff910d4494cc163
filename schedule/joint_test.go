package schedule

import (
	"errors"
	"strings"
	"testing"
)

// bakeTasks are a base and two targets that start from it, each for
// linux/amd64 and linux/arm64: tasks 0-1 the base, 2-3 and 4-5 the
// dependents, each platform with the base's same platform.
func bakeTasks(only ...string) []Task {
	amd, arm := p("linux/amd64"), p("linux/arm64")
	return []Task{
		{Platform: amd, Only: only}, {Platform: arm, Only: only},
		{Platform: amd, With: []int{0}}, {Platform: arm, With: []int{1}},
		{Platform: amd, With: []int{0}}, {Platform: arm, With: []int{1}},
	}
}

func TestAssignJoint(t *testing.T) {
	amd := func(name string) Node { return node(name, "linux/amd64", "linux/arm64", 2) }
	arm := func(name string) Node { return node(name, "linux/arm64", "", 2) }
	amdOnly, armOnly := p("linux/amd64"), p("linux/arm64")
	tests := []struct {
		name  string
		tasks []Task
		nodes []Node
		plan  string
	}{
		{"two equal nodes: one platform's builds each, dependents with their base", bakeTasks(), []Node{amd("p1"), amd("p2")},
			"linux/amd64@p2 linux/arm64@p1(emu) linux/amd64@p2 linux/arm64@p1(emu) linux/amd64@p2 linux/arm64@p1(emu)"},
		{"an amd64 and an arm64 node: each builds its native platform", bakeTasks(), []Node{amd("a"), arm("b")},
			"linux/amd64@a linux/arm64@b linux/amd64@a linux/arm64@b linux/amd64@a linux/arm64@b"},
		{"the base limited to one node takes its dependents there", bakeTasks("p2"), []Node{amd("p1"), amd("p2")},
			"linux/amd64@p2 linux/arm64@p2(emu) linux/amd64@p2 linux/arm64@p2(emu) linux/amd64@p2 linux/arm64@p2(emu)"},
		{"an independent target goes where the bake's load is lightest",
			append(bakeTasks("p2"), Task{Platform: amdOnly}, Task{Platform: armOnly}), []Node{amd("p1"), amd("p2")},
			"linux/amd64@p2 linux/arm64@p2(emu) linux/amd64@p2 linux/arm64@p2(emu) linux/amd64@p2 linux/arm64@p2(emu) linux/amd64@p1 linux/arm64@p1(emu)"},
		{"a one-platform base serves both platforms of its dependent on its node",
			[]Task{{Platform: amdOnly}, {Platform: amdOnly, With: []int{0}}, {Platform: armOnly, With: []int{0}}}, []Node{amd("a"), arm("b")},
			"linux/amd64@a linux/amd64@a linux/arm64@a(emu)"},
		{"two bases of one dependent are joined on one node",
			[]Task{{Platform: amdOnly}, {Platform: amdOnly}, {Platform: amdOnly, With: []int{0, 1}}}, []Node{amd("a"), amd("b")},
			"linux/amd64@a linux/amd64@a linux/amd64@a"},
		{"a busy node takes the smaller group", bakeTasks(), []Node{running(amd("p1"), 2), amd("p2")},
			"linux/amd64@p1 linux/arm64@p2(emu) linux/amd64@p1 linux/arm64@p2(emu) linux/amd64@p1 linux/arm64@p2(emu)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := AssignJoint(tt.tasks, tt.nodes)
			if err != nil {
				t.Fatal(err)
			}
			if got := planString(plan); got != tt.plan {
				t.Errorf("plan = %s\nwant   %s", got, tt.plan)
			}
			for i, task := range tt.tasks {
				for _, w := range task.With {
					if plan.Jobs[i].Node != plan.Jobs[w].Node {
						t.Errorf("task %d on %s, its base %d on %s", i, plan.Jobs[i].Node, w, plan.Jobs[w].Node)
					}
				}
			}
		})
	}
}

func TestAssignJointBalances(t *testing.T) {
	// Two equal nodes: the bake's two platform groups (3 builds each)
	// go one to each node, so the makespan is one group's, not both.
	plan, err := AssignJoint(bakeTasks(), []Node{node("p1", "linux/amd64", "linux/arm64", 1), node("p2", "linux/amd64", "linux/arm64", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * emulationCost * defaultBuild; plan.Makespan != want {
		t.Errorf("makespan = %s, want %s", plan.Makespan, want)
	}
	if !strings.Contains(plan.Jobs[0].Reason, "with the 2 builds that start from it") || !strings.Contains(plan.Jobs[2].Reason, "what it starts from") {
		t.Errorf("reasons = %q, %q", plan.Jobs[0].Reason, plan.Jobs[2].Reason)
	}
}

func TestAssignJointErrors(t *testing.T) {
	_, err := AssignJoint(bakeTasks("nope"), []Node{node("a", "linux/amd64", "linux/arm64", 1)})
	var ue *UnservableError
	if !errors.As(err, &ue) || strings.Join(ue.Platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("error = %v", err)
	}
	if _, err := AssignJoint([]Task{{Platform: p("linux/amd64"), With: []int{3}}}, []Node{node("a", "linux/amd64", "", 1)}); err == nil {
		t.Error("a With out of range was accepted")
	}
}
