//go:build e2e

package cmd

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowContainerfile runs long enough to be interrupted; the random marker
// keeps the layer cache out of the way.
func slowContainerfile(seconds string) string {
	return "FROM base\nRUN echo start-" + uniq() + " && sleep " + seconds + " && uname -m > /arch\n"
}

func TestE2EBuildDryRunSpreadsWork(t *testing.T) {
	buildFarmHome(t)
	out, errOut, err := farmCLI(t, "build", "--dry-run", "--platforms", "linux/amd64,linux/arm64", "-t", "x:1", writeContext(t, archContainerfile))
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, errOut)
	}
	lines := regexp.MustCompile(`(?m)^(linux/\S+)\s+(p[12])\s+(native|emulated)\s+(.+)$`).FindAllStringSubmatch(out, -1)
	if len(lines) != 2 || lines[0][2] == lines[1][2] {
		t.Fatalf("two equal nodes and two platforms must build on different nodes:\n%s", out)
	}
	if !strings.Contains(out, "no node builds linux/arm64 natively") {
		t.Errorf("the plan must say why:\n%s", out)
	}
	if strings.Contains(errOut, "STEP") {
		t.Errorf("--dry-run built something:\n%s", errOut)
	}
}

func TestE2EBuildWithUnreachableNode(t *testing.T) {
	buildFarmHome(t)
	addNode(t, "gone", "ssh://root@"+closedPort(t)+"/run/podman/podman.sock")
	mustCLI(t, "update", "two", "--add", "gone")
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "x:1", writeContext(t, archContainerfile))
	if err != nil {
		t.Fatalf("a farm with one unreachable node must still build: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "warning: leaving out a node that cannot be reached (node: gone, error: ") {
		t.Errorf("the unreachable node must be named in a warning:\n%s", errOut)
	}
	if got := platformsOf(ociLayout{t: t, dir: dest}.index("1")); got != "linux/amd64,linux/arm64" {
		t.Errorf("index = %s", got)
	}
}

// restartNode brings a test farm node back after a test killed its
// engine, and removes the build containers the killed engine could not
// clean up (they would count as running builds for later tests).
func restartNode(t *testing.T, name string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(theFarm.repoRoot, "hack", "testfarm.sh"), "start-node", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restarting %s: %v\n%s", name, err, out)
	}
	sock := os.Getenv("FARM_TEST_" + strings.ToUpper(name) + "_SOCK")
	ids, _ := exec.Command("podman", "--url", "unix://"+sock, "ps", "-a", "--external", "-q").Output()
	for _, id := range strings.Fields(string(ids)) {
		_ = exec.Command("podman", "--url", "unix://"+sock, "rm", "-f", id).Run()
	}
}

// nodePID reads a node's current engine PID from farm.env.
func nodePID(t *testing.T, node string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(theFarm.dir, "farm.env"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`FARM_TEST_` + strings.ToUpper(node) + `_PID="(\d+)"`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("no PID for %s in farm.env", node)
	}
	var pid int
	for _, c := range m[1] {
		pid = pid*10 + int(c-'0')
	}
	return pid
}

func TestE2EBuildNodeKilledMidBuild(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, slowContainerfile("8"))
	args := []string{"--platforms", "linux/amd64,linux/arm64", "-t", "x:1", dir}
	// Plans are deterministic: ask which node gets the emulated arm64.
	plan := mustCLI(t, append([]string{"build", "--dry-run"}, args...)...)
	m := regexp.MustCompile(`(?m)^linux/arm64\s+(p[12])\s`).FindStringSubmatch(plan)
	if m == nil {
		t.Fatalf("no arm64 in the plan:\n%s", plan)
	}
	victim, survivor, engine := m[1], "p1", "podman2"
	if victim == "p1" {
		survivor, engine = "p2", "podman1"
	}
	t.Cleanup(func() { restartNode(t, engine) })
	pid := nodePID(t, engine)
	dest := filepath.Join(t.TempDir(), "layout")
	meta := filepath.Join(t.TempDir(), "meta.json")
	// Kill the engine when its RUN step has started (it then sleeps).
	errOut, killed, err := killWhen(t, pid, regexp.MustCompile(`^\[linux/arm64@`+victim+`\] start-`),
		append([]string{"build", "--progress", "plain", "--output", "type=oci,dest=" + dest, "--metadata-file", meta}, args...)...)
	if killed == "" {
		t.Fatalf("the RUN step never started on %s:\n%s", victim, errOut)
	}
	if err != nil {
		t.Fatalf("the platform of a killed node must be rebuilt elsewhere: %v\n%s", err, errOut)
	}
	var md buildMetadata
	data, _ := os.ReadFile(meta)
	if err := json.Unmarshal(data, &md); err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Platforms {
		if p.Platform == "linux/arm64" && (p.Node != survivor || p.Attempts != 2) {
			t.Errorf("arm64 must be rebuilt on %s in a second attempt after %s died: %+v", survivor, victim, p)
		}
	}
	if !md.Success || md.Index == nil || !strings.HasPrefix(md.Index.Digest, "sha256:") {
		t.Errorf("metadata: %s", data)
	}
	if !strings.Contains(errOut, "node went down during the build") {
		t.Errorf("the dead node must be reported:\n%s", errOut)
	}
	l := ociLayout{t: t, dir: dest}
	if got := l.file(l.index("1"), "arm64", "arch"); got != "aarch64\n" {
		t.Errorf("rebuilt arm64 image ran on %q", got)
	}
}

// killWhen runs bin/farm with args and SIGKILLs pid when a line of its
// output matches trigger; it returns the output, the line that triggered
// the kill ("" if none did), and farm's error.
func killWhen(t *testing.T, pid int, trigger *regexp.Regexp, args ...string) (string, string, error) {
	t.Helper()
	cmd, sc := startFarm(t, args...)
	var log []string
	killedAt := ""
	for sc.Scan() {
		log = append(log, sc.Text())
		if killedAt == "" && trigger.MatchString(sc.Text()) {
			killedAt = sc.Text()
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return strings.Join(log, "\n"), killedAt, cmd.Wait()
}

// interrupt sends Ctrl-C to a farm started with startFarm and checks that
// it exits 130 soon: the remote RUN steps are stopped, not waited for.
func interrupt(t *testing.T, cmd *exec.Cmd, sc *bufio.Scanner, log []string) {
	t.Helper()
	_ = cmd.Process.Signal(os.Interrupt)
	go func() {
		for sc.Scan() {
		}
	}()
	start := time.Now()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("Ctrl-C: %v, want exit %d\n%s", err, exitInterrupted, strings.Join(log, "\n"))
	}
	if took := time.Since(start); took > 25*time.Second {
		t.Errorf("stopping took %s: the remote RUN steps must be stopped, not waited for", took)
	}
}

// startFarm starts bin/farm (a separate process, so that it can be sent
// signals) and returns it with a scanner over its standard error.
func startFarm(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(filepath.Join(theFarm.repoRoot, "bin", "farm"), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stderr)
}

// nodeLeftovers lists the build containers and images on the podman nodes.
func nodeLeftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, sock := range nodeSockets() {
		for _, args := range [][]string{{"ps", "-a", "--external", "--format", "{{.ID}}"}, {"images", "-a", "--no-trunc", "--format", "{{.ID}}"}} {
			res, err := exec.Command("podman", append([]string{"--url", "unix://" + sock}, args...)...).Output()
			if err != nil {
				t.Fatalf("listing on %s: %v", sock, err)
			}
			for _, id := range strings.Fields(string(res)) {
				out = append(out, sock+" "+args[0]+" "+id)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestE2EBuildCtrlCLeavesNothing(t *testing.T) {
	buildFarmHome(t)
	marker := "start-" + uniq()
	dir := writeContext(t, "FROM base\nRUN echo "+marker+" && sleep 30 && uname -m > /arch\n")
	before := nodeLeftovers(t)
	cmd, sc := startFarm(t, "build", "--platforms", "linux/amd64,linux/arm64", "-t", "x:1", dir)
	started := 0
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.Contains(sc.Text(), "] start-") {
			if started++; started == 2 {
				break
			}
		}
	}
	if started < 2 {
		t.Fatalf("the builds did not start:\n%s", strings.Join(log, "\n"))
	}
	interrupt(t, cmd, sc, log)
	after := nodeLeftovers(t)
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("Ctrl-C left containers or images on the nodes:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	if processRuns(marker) {
		t.Errorf("the RUN steps %s still run on the nodes", marker)
	}
}

func TestE2EBuildTimeout(t *testing.T) {
	buildFarmHome(t)
	before := nodeLeftovers(t)
	_, errOut, err := farmCLI(t, "build", "--timeout", "5s", "--platforms", "linux/amd64", "-t", "x:1", writeContext(t, slowContainerfile("40")))
	if ExitCode(err) != exitFailure || !strings.Contains(OneLine(err), "did not finish within --timeout 5s") {
		t.Fatalf("timeout: exit %d: %v\n%s", ExitCode(err), err, errOut)
	}
	if after := nodeLeftovers(t); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("a timed-out build left containers or images behind")
	}
}

func TestE2EBuildAllowPartial(t *testing.T) {
	buildFarmHome(t)
	dir := writeContext(t, "FROM base\nRUN test \"$(uname -m)\" = x86_64\n")
	dest := filepath.Join(t.TempDir(), "layout")
	meta := filepath.Join(t.TempDir(), "meta.json")
	_, errOut, err := farmCLI(t, "build", "--allow-partial", "--keep-going", "--platforms", "linux/amd64,linux/arm64", "--metadata-file", meta, "--output", "type=oci,dest="+dest, "-t", "x:1", dir)
	if err != nil {
		t.Fatalf("--allow-partial: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "partial result: missing linux/arm64") {
		t.Errorf("the missing platform must be reported:\n%s", errOut)
	}
	if got := platformsOf(ociLayout{t: t, dir: dest}.index("1")); got != "linux/amd64" {
		t.Errorf("partial index = %s", got)
	}
	data, _ := os.ReadFile(meta)
	if !strings.Contains(string(data), `"missing": [`) {
		t.Errorf("metadata lacks the missing platforms: %s", data)
	}
}

func TestE2EBuildNodeKilledAfterItsPlatform(t *testing.T) {
	buildFarmHome(t)
	// amd64 finishes at once; arm64 keeps the build going for a while.
	dir := writeContext(t, "FROM base\nRUN echo "+uniq()+"; if [ \"$(uname -m)\" = aarch64 ]; then sleep 10; fi; uname -m > /arch\n")
	args := []string{"--platforms", "linux/amd64,linux/arm64", "-t", "x:1", dir}
	plan := mustCLI(t, append([]string{"build", "--dry-run"}, args...)...)
	m := regexp.MustCompile(`(?m)^linux/amd64\s+(p[12])\s`).FindStringSubmatch(plan)
	if m == nil {
		t.Fatalf("plan:\n%s", plan)
	}
	victim, engine := m[1], "podman1"
	if victim == "p2" {
		engine = "podman2"
	}
	t.Cleanup(func() { restartNode(t, engine) })
	pid := nodePID(t, engine)
	dest := filepath.Join(t.TempDir(), "layout")
	meta := filepath.Join(t.TempDir(), "meta.json")
	// Kill the engine when amd64's image is done (its ID is the build's
	// last line); arm64 is still sleeping on the other node.
	errOut, killed, err := killWhen(t, pid, regexp.MustCompile(`^\[linux/amd64@`+victim+`\] [0-9a-f]{64}$`),
		append([]string{"build", "--progress", "plain", "--output", "type=oci,dest=" + dest, "--metadata-file", meta}, args...)...)
	if killed == "" {
		t.Fatalf("amd64 never finished on %s:\n%s", victim, errOut)
	}
	if err != nil {
		t.Fatalf("a platform whose node died after building it must be rebuilt: %v\n%s", err, errOut)
	}
	var md buildMetadata
	data, _ := os.ReadFile(meta)
	if err := json.Unmarshal(data, &md); err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Platforms {
		if p.Platform == "linux/amd64" && (p.Node == victim || p.Attempts != 2) {
			t.Errorf("amd64 must be rebuilt off %s: %+v", victim, p)
		}
	}
	l := ociLayout{t: t, dir: dest}
	if got := l.file(l.index("1"), "amd64", "arch"); got != "x86_64\n" {
		t.Errorf("rebuilt amd64 image: %q", got)
	}
}
