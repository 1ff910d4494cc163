package cmd

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/farmbuild/farm/engine"
)

// countingOpener is fakeOpener counting the nodes it opens.
type countingOpener struct {
	mu     sync.Mutex
	opened []string
}

func (c *countingOpener) open(ctx context.Context, l engine.Link) (engine.Builder, error) {
	c.mu.Lock()
	c.opened = append(c.opened, l.Node())
	c.mu.Unlock()
	return fakeOpener(ctx, l)
}

// The facts a build or a plan learned are kept: the next dry run contacts
// no node and says how old its facts are, and the next build opens only
// the node it builds on.
func TestKnownFactsSpareTheOtherNodes(t *testing.T) {
	isolate(t)
	for _, n := range []string{"amd1", "amd2", "amd3", "arm1"} {
		mustCLI(t, "connection", "add", n, "unix:///nonexistent/"+n+".sock")
	}
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	first := &countingOpener{}
	if _, errOut, err := farmCLIWith(t, first.open, "build", "--dry-run", "--platforms", "linux/amd64", "-t", "x:1", dir); err != nil || len(first.opened) != 4 {
		t.Fatalf("first dry run opened %v: %v\n%s", first.opened, err, errOut)
	}
	again := &countingOpener{}
	out, errOut, err := farmCLIWith(t, again.open, "build", "--dry-run", "--platforms", "linux/amd64", "-t", "x:1", dir)
	if err != nil || len(again.opened) != 0 {
		t.Fatalf("a dry run with fresh facts opened %v: %v\n%s", again.opened, err, errOut)
	}
	if !strings.Contains(out, "FACTS") || !regexp.MustCompile(`(?m)^linux/amd64\s+amd\d\s+native\s+(just now|\d+s ago)\s`).MatchString(out) {
		t.Errorf("the plan does not say how old its facts are:\n%s", out)
	}
	build := &countingOpener{}
	_, errOut, err = farmCLIWith(t, build.open, "--log-level", "info", "build", "--platforms", "linux/amd64",
		"--output", "type=oci,dest="+t.TempDir()+"/layout", "-t", "x:1", dir)
	if ExitCode(err) != exitOutput || len(build.opened) != 1 || !strings.HasPrefix(build.opened[0], "amd") {
		t.Fatalf("the build opened %v (exit %d: %v)\n%s", build.opened, ExitCode(err), err, errOut)
	}
	// The line the e2e test counts opens by.
	if n := len(regexp.MustCompile(`opening node \(node: amd\d`).FindAllString(errOut, -1)); n != 1 {
		t.Errorf("%d lines say which node is opened:\n%s", n, errOut)
	}
}

// farm status keeps the facts it sees: a dry run after it contacts no node.
func TestStatusKeepsTheFacts(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	mustCLI(t, "connection", "add", "arm1", "unix:///nonexistent/arm1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	if _, errOut, err := farmCLIWith(t, fakeOpener, "status"); err != nil {
		t.Fatalf("status: %v\n%s", err, errOut)
	}
	c := &countingOpener{}
	out, errOut, err := farmCLIWith(t, c.open, "build", "--dry-run", "--platforms", "linux/amd64,linux/arm64", "-t", "x:1", dir)
	if err != nil || len(c.opened) != 0 || !regexp.MustCompile(`(?m)^linux/arm64\s+arm1\s+native\s`).MatchString(out) {
		t.Fatalf("a dry run after status opened %v: %v\n%s%s", c.opened, err, out, errOut)
	}
}
