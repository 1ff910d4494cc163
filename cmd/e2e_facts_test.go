//go:build e2e

package cmd

import (
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// openedNodes are the nodes a run logged opening (--log-level info).
func openedNodes(errOut string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`opening node \(node: ([^,)]+)`).FindAllStringSubmatch(errOut, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return out
}

// A second one-platform build contacts only the node it builds on; a
// node that cannot be reached costs nothing while the others serve.
func TestE2EBuildContactsOnlyThePlannedNodes(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	addNode(t, "p2", theFarm.podman2)
	addNode(t, "dk", theFarm.docker)
	mustCLI(t, "create", "three", "p1", "p2", "dk")
	ctx := writeContext(t, "FROM scratch\nCOPY Containerfile /\n")
	build := func(what string) []string {
		t.Helper()
		dest := filepath.Join(t.TempDir(), "layout")
		out, errOut, err := farmCLI(t, "--log-level", "info", "build", "--platforms", "linux/amd64",
			"--output", "type=oci,dest="+dest, "-t", "x:1", ctx)
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", what, err, out, errOut)
		}
		return openedNodes(errOut)
	}
	if got := build("first build"); len(got) != 3 {
		t.Errorf("the first build must learn every node's facts, opened %v", got)
	}
	if got := build("second build"); len(got) != 1 {
		t.Errorf("the second build must open only its node, opened %v", got)
	}
	out, errOut, err := farmCLI(t, "--log-level", "info", "build", "--dry-run", "--platforms", "linux/amd64", "-t", "x:1", ctx)
	if err != nil || len(openedNodes(errOut)) != 0 || !regexpMatch(`(?m)^linux/amd64\s+\S+\s+native\s+(just now|\d+s ago)\s`, out) {
		t.Errorf("a dry run with fresh facts must open nothing and say their age: %v\n%s\n%s", err, out, errOut)
	}

	// An unreachable node: learned (and failed) once, then tried last.
	addNode(t, "gone", "ssh://root@"+closedPort(t)+"/run/podman/podman.sock")
	mustCLI(t, "update", "three", "--add", "gone")
	if got := build("a build with a new unreachable node"); len(got) != 2 || !slices.Contains(got, "gone") {
		t.Errorf("a new node is opened to learn its facts, and the planned one: opened %v", got)
	}
	if got := build("the next build"); len(got) != 1 || got[0] == "gone" {
		t.Errorf("a node that failed lately is not contacted while others serve: opened %v", got)
	}
}
