//go:build e2e

package cmd

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/records"
)

// Nodes are shared: a teammate builds on p1 with podman while farm does.

// oneNodeHome is a farm "one" of the podman node p1 only, and p1's socket.
func oneNodeHome(t *testing.T) string {
	t.Helper()
	buildFarmHome(t)
	mustCLI(t, "create", "one", "p1")
	return nodeSockets()[0]
}

// teammateBuild builds dir on the node with podman, as another user would.
func teammateBuild(t *testing.T, sock, tag, dir string) {
	t.Helper()
	run(t, "podman", "--url", "unix://"+sock, "build", "-q", "-t", tag, dir)
	t.Cleanup(func() { _ = runQuiet("podman", "--url", "unix://"+sock, "rmi", "-f", tag) })
}

func imageID(t *testing.T, sock, ref string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "podman", "--url", "unix://"+sock, "image", "inspect", "--format", "{{.Id}}", ref))
}

func TestE2ECancelSparesOtherBuildsOnTheNode(t *testing.T) {
	sock := oneNodeHome(t)
	cmd, sc := startFarm(t, "build", "--farm", "one", "--timeout", "10s", "--platforms", "linux/amd64", "-t", "x:1", writeContext(t, slowContainerfile("40")))
	var log []string
	for sc.Scan() {
		if log = append(log, sc.Text()); strings.Contains(sc.Text(), "] start-") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	// The teammate's build starts after farm's, and is still in its RUN
	// step when farm's times out and farm stops what its build left.
	marker := "mate-" + uniq()
	mate := exec.Command("podman", "--url", "unix://"+sock, "build", "--no-cache", "-t", "localhost/"+marker,
		writeContext(t, "FROM base\nRUN echo "+marker+" && sleep 16\n"))
	var out bytes.Buffer
	mate.Stdout, mate.Stderr = &out, &out
	if err := mate.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runQuiet("podman", "--url", "unix://"+sock, "rmi", "-f", "localhost/"+marker) })
	for i := 0; i < 100 && !processRuns(marker); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("farm's build was to time out:\n%s", strings.Join(log, "\n"))
	}
	if err := mate.Wait(); err != nil {
		t.Errorf("farm's cancel killed another build on the node: %v\n%s", err, out.String())
	}
}

func TestE2ECleanupLeavesOthersImages(t *testing.T) {
	sock := oneNodeHome(t)
	dir := writeContext(t, "FROM base\nRUN echo "+uniq()+" > /id\n")
	team := "localhost/team/app-" + uniq() + ":prod"
	teammateBuild(t, sock, team, dir)
	// farm's build of the same Containerfile is a cache hit: the very
	// image the teammate tagged.
	mustCLI(t, "build", "--farm", "one", "--cleanup", "--platforms", "linux/amd64", "--output", "type=oci,dest="+filepath.Join(t.TempDir(), "o"), "-t", "x:1", dir)
	if !imageExists(sock, team) {
		t.Errorf("--cleanup removed %s, which farm did not create", team)
	}
	names := run(t, "podman", "--url", "unix://"+sock, "image", "inspect", "--format", "{{.RepoTags}}", team)
	if strings.Contains(names, "farm-") {
		t.Errorf("--cleanup left farm's name on the image: %s", names)
	}
}

func TestE2EBuildOutputCannotNameTheResult(t *testing.T) {
	sock := oneNodeHome(t)
	team := "localhost/team/other-" + uniq() + ":1"
	teammateBuild(t, sock, team, writeContext(t, "FROM base\nRUN echo teammate > /who\n"))
	id := imageID(t, sock, team)
	// The last RUN step prints what podman prints when it commits an
	// image, naming the teammate's. The node builds two platforms in one
	// call, so no line podman prints at the very end settles it.
	mine := "farm-run-" + uniq()
	dir := writeContext(t, "FROM base\nRUN echo "+mine+" > /who && echo '--> "+id[:11]+"' && echo "+id+"\n")
	dest := filepath.Join(t.TempDir(), "o")
	mustCLI(t, "build", "--farm", "one", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "x:1", dir)
	l := ociLayout{t: t, dir: dest}
	for _, arch := range []string{"amd64", "arm64"} {
		if got := strings.TrimSpace(l.file(l.index("1"), arch, "who")); got != mine {
			t.Errorf("the %s result is not the image farm built: /who = %q, want %q", arch, got, mine)
		}
	}
}

func TestE2EKilledFarmLeavesNoRunningBuild(t *testing.T) {
	buildFarmHome(t)
	marker := "killed-" + uniq()
	cmd, sc := startFarm(t, "build", "--platforms", "linux/amd64", "-t", "x:1", writeContext(t, "FROM base\nRUN echo "+marker+" && sleep 4\n"))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "] "+marker) {
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// The node finishes the orphaned step; let it, so that no other test
	// sees it end.
	for i := 0; i < 100 && processRuns(marker); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	var builds []records.BuildRecord
	if err := json.Unmarshal([]byte(mustCLI(t, "history", "--format", "json")), &builds); err != nil || len(builds) != 1 {
		t.Fatalf("history: %v %+v", err, builds)
	}
	if builds[0].Result != "interrupted" {
		t.Errorf("a build whose farm was killed is %q, want interrupted", builds[0].Result)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := farmCLI(t, "logs", "--follow", builds[0].ID)
		done <- err
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Errorf("farm logs --follow of a killed farm's build does not end")
	}
}
