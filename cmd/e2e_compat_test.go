//go:build e2e

package cmd

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/farmbuild/farm/farm"
)

// An amd64 node whose kernel runs 32-bit code builds linux/386 natively:
// probed (this machine's kernel has IA-32 emulation), shown by farm
// status, and preferred to emulation (the test farm registers no i386
// emulator anyway).
func TestE2EBuild386Natively(t *testing.T) {
	buildFarmHome(t)
	mustCLI(t, "create", "one", "p1")
	var status struct{ Nodes []farm.NodeStatus }
	if err := json.Unmarshal([]byte(mustCLI(t, "status", "--farm", "one", "--format", "json")), &status); err != nil || len(status.Nodes) != 1 {
		t.Fatalf("status: %v %+v", err, status)
	}
	nodes := status.Nodes
	if strings.Join(nodes[0].Compatible, ",") != "linux/386" {
		t.Fatalf("an amd64 node with IA-32 emulation builds linux/386 natively: %+v", nodes[0])
	}
	if out := mustCLI(t, "status", "--farm", "one"); !regexp.MustCompile(`(?m)^p1\s+ok\s+podman \S+\s+linux/amd64,linux/386\s`).MatchString(out) {
		t.Errorf("status shows the 32-bit mode as native:\n%s", out)
	}
	dir := writeContext(t, "FROM scratch\nCOPY hello.txt /hello.txt\n")
	plan := mustCLI(t, "build", "--farm", "one", "--dry-run", "--platforms", "linux/386", "-t", "x:1", dir)
	if !regexp.MustCompile(`linux/386\s+p1\s+native\s+.*native \(32-bit mode of linux/amd64\)`).MatchString(plan) {
		t.Errorf("dry run:\n%s", plan)
	}
	dest := filepath.Join(t.TempDir(), "layout")
	mustCLI(t, "build", "--farm", "one", "--platforms", "linux/386", "--output", "type=oci,dest="+dest, "-t", "x:1", dir)
	l := ociLayout{t: t, dir: dest}
	if got := platformsOf(l.index("1")); got != "linux/386" {
		t.Errorf("the layout holds %s, want linux/386", got)
	}
}
