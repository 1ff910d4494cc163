//go:build e2e

package cmd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/farmbuild/farm/records"
)

func TestE2ERecordsKeepCompleteLogs(t *testing.T) {
	home := e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	addNode(t, "p2", theFarm.podman2)
	mustCLI(t, "create", "two", "p1", "p2")
	// 500 numbered lines and a marker: all must survive, untruncated.
	dir := writeContext(t, "FROM base\nRUN i=0; while [ $i -lt 500 ]; do echo line-$i-$(uname -m); i=$((i+1)); done; sleep 3; echo "+uniq()+"\n")
	dest := filepath.Join(t.TempDir(), "layout")
	build := exec.Command(filepath.Join(theFarm.repoRoot, "bin", "farm"), "build", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64",
		"--output", "type=oci,dest="+dest, "-t", "x:1", dir)
	build.Env = append(os.Environ(), "HOME="+home)
	stderr, err := build.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var id string
	for sc.Scan() {
		if m := regexp.MustCompile(`^Build ([0-9a-f]+) `).FindStringSubmatch(sc.Text()); m != nil {
			id = m[1]
			break
		}
	}
	if id == "" {
		t.Fatal("farm build did not print its build ID")
	}
	// Follow one platform while the build runs.
	followed, ferr := exec.Command(filepath.Join(theFarm.repoRoot, "bin", "farm"), "logs", id, "--platform", "linux/arm64", "--follow").CombinedOutput()
	go func() {
		for sc.Scan() {
		}
	}()
	if err := build.Wait(); err != nil {
		t.Fatalf("build: %v", err)
	}
	if ferr != nil || strings.Count(string(followed), "-aarch64\n") != 500 {
		t.Errorf("logs --follow: %v, %d of 500 lines", ferr, strings.Count(string(followed), "-aarch64\n"))
	}

	// After the process ended: history and the complete logs.
	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--format", "json")), &builds); err != nil {
		t.Fatal(err)
	}
	if len(builds) != 1 || builds[0].ID != id || builds[0].Result != "success" || builds[0].Farm != "two" || !strings.HasPrefix(builds[0].Index, "sha256:") {
		t.Fatalf("history: %+v", builds)
	}
	logs := mustCLI(t, "logs", id)
	for _, arch := range []string{"x86_64", "aarch64"} {
		for _, i := range []int{0, 250, 499} {
			if want := fmt.Sprintf("line-%d-%s\n", i, arch); !strings.Contains(logs, want) {
				t.Errorf("logs lack %q", want)
			}
		}
		if n := strings.Count(logs, "-"+arch+"\n"); n != 500 {
			t.Errorf("%d of 500 %s lines in farm logs", n, arch)
		}
	}
	var b records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "inspect", id[:6])), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Platforms) != 2 || b.Platforms[1].Platform != "linux/arm64" || !b.Platforms[1].Emulated || b.Platforms[1].Attempts != 1 || b.Platforms[1].Digest == "" {
		t.Errorf("inspect: %+v", b)
	}
	if args := strings.Join(b.Args, " "); !strings.Contains(args, "--platforms=linux/amd64") || !strings.Contains(args, "linux/arm64") {
		t.Errorf("recorded arguments: %v", b.Args)
	}
	if msg := wantExit(t, exitUsage, "logs", "nope"); !strings.Contains(msg, "see farm history") {
		t.Errorf("unknown build: %s", msg)
	}
	mustCLI(t, "history", "prune", "--keep", "0")
	if out := mustCLI(t, "history", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after prune: %s", out)
	}
}
