package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/records"
)

// The record commands in-process, on builds made with fake engines.
func TestRecordCommands(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	for i := 0; i < 2; i++ {
		// The fake's archive is not an image: each build fails at storing.
		_, _, err := farmCLIWith(t, fakeOpener, "build", "--platforms", "linux/amd64", "--output", "type=oci,dest="+t.TempDir()+"/l", "-t", "x:1", dir)
		if ExitCode(err) != exitOutput {
			t.Fatalf("build %d: %v", i, err)
		}
	}
	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--format", "json")), &builds); err != nil || len(builds) != 2 {
		t.Fatalf("history: %v, %+v", err, builds)
	}
	if b := builds[0]; b.Result != "failed" || b.ExitCode != exitOutput || b.Output != "oci" || len(b.Args) == 0 {
		t.Errorf("record: %+v", b)
	}
	if out := mustCLI(t, "history"); !strings.Contains(out, builds[0].ID) || !strings.Contains(out, "failed") {
		t.Errorf("history table:\n%s", out)
	}
	var full records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "inspect", builds[0].ID[:6])), &full); err != nil || len(full.Platforms) != 1 || full.Platforms[0].Node != "amd1" {
		t.Errorf("inspect by a prefix: %v, %+v", err, full)
	}
	var cmp []baseComparison
	if out := mustCLI(t, "inspect", builds[0].ID, builds[1].ID); json.Unmarshal([]byte(out), &cmp) != nil || len(cmp) != 0 {
		t.Errorf("inspect of two builds without bases compares nothing:\n%s", out)
	}
	if out := mustCLI(t, "logs", builds[0].ID); !strings.Contains(out, "building on amd1") {
		t.Errorf("logs:\n%s", out)
	}
	if out := mustCLI(t, "logs", "--platform", "linux/amd64", builds[0].ID); !strings.Contains(out, "building on amd1") {
		t.Errorf("logs of one platform:\n%s", out)
	}
	wantExit(t, exitUsage, "logs", "nosuchbuild")

	// prune asks the node which recorded images it still has.
	var pruned struct {
		Nodes []farm.NodePrune
		Store storeReport
	}
	out, _, err := farmCLIWith(t, fakeOpener, "prune", "--dry-run", "--format", "json")
	if err != nil || json.Unmarshal([]byte(out), &pruned) != nil || len(pruned.Nodes) != 1 || pruned.Nodes[0].Node != "amd1" || !strings.HasSuffix(pruned.Store.Dir, "/farm/store") {
		t.Errorf("prune --dry-run: %v\n%s", err, out)
	}

	mustCLI(t, "history", "prune", "--keep", "1")
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--format", "json")), &builds); err != nil || len(builds) != 1 {
		t.Errorf("history prune --keep 1 left %d builds", len(builds))
	}
}
