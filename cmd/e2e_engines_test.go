//go:build e2e

package cmd

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// engineNode is a test farm node whose engine the core scenarios run on:
// the engines users run today, next to the podman 4.3.1 and docker 20.10
// nodes the rest of the suite uses.
type engineNode struct {
	// name is both the test farm's node name and the connection's.
	name, uri string
	// kind and version are what farm status must report.
	kind, version string
}

func coreEngines() []engineNode {
	return []engineNode{
		{name: "podman5", uri: theFarm.podman5, kind: "podman", version: "5.8.6"},
		{name: "docker28", uri: theFarm.docker28, kind: "docker", version: "28.5.2"},
		{name: "docker28c", uri: theFarm.docker28c, kind: "docker", version: "28.5.2"},
	}
}

func (e engineNode) sock() string {
	return os.Getenv("FARM_TEST_" + strings.ToUpper(e.name) + "_SOCK")
}

// registryContainerfile starts FROM the test registry's base list, which
// every engine pulls for every platform (docker keeps one image per name,
// so the docker nodes have no local arm64 base).
func registryContainerfile() string {
	return "FROM " + theFarm.registry + "/base\nRUN uname -m > /arch && echo built-on-$(uname -m)\nCOPY hello.txt /hello.txt\n"
}

// engineHome gives the test a HOME whose default farm "only" is e alone.
// The test farm's docker nodes have no bridge: builds use --network host.
func engineHome(t *testing.T, e engineNode) {
	t.Helper()
	e2eHome(t, true)
	addNode(t, e.name, e.uri)
	mustCLI(t, "create", "only", e.name)
}

// TestE2ECoreEngines runs the core scenarios on podman 5.8.6 and on
// docker 28.5.2 with either image store.
func TestE2ECoreEngines(t *testing.T) {
	for _, e := range coreEngines() {
		t.Run(e.name, func(t *testing.T) {
			t.Run("status", func(t *testing.T) { engineStatus(t, e) })
			t.Run("destinations", func(t *testing.T) { engineDestinations(t, e) })
			t.Run("test-gate", func(t *testing.T) { engineTestGate(t, e) })
			t.Run("build-error-is-not-a-dead-node", func(t *testing.T) { engineBuildError(t, e) })
			t.Run("login-registry", func(t *testing.T) { engineLoginRegistry(t, e) })
			t.Run("ctrl-c", func(t *testing.T) { engineCtrlC(t, e) })
			t.Run("node-killed", func(t *testing.T) { engineNodeKilled(t, e) })
		})
	}
}

func engineStatus(t *testing.T, e engineNode) {
	engineHome(t, e)
	s, err := statusOf(t)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	n := nodeByName(t, s, e.name)
	if !n.Reachable || n.Kind != e.kind || n.Version != e.version || n.Native != "linux/amd64" || n.CPUs < 1 || n.FreeBytes <= 0 {
		t.Errorf("status of %s: %+v", e.name, n)
	}
	for _, p := range []string{"linux/arm64", "linux/arm/v7"} {
		if !slices.Contains(n.Emulated, p) {
			t.Errorf("%s must report %s emulated: %+v", e.name, p, n.Emulated)
		}
	}
}

// engineDestinations builds amd64 and an emulated arm64 on the one node
// into each destination, and reads each image's layers.
func engineDestinations(t *testing.T, e engineNode) {
	engineHome(t, e)
	// A new image: one the node already holds under another tag would hide
	// what happens to an image that has no other.
	dir := writeContext(t, registryContainerfile()+"ENV E2E_RUN="+uniq()+"\n")
	dest := filepath.Join(t.TempDir(), "layout")
	if out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "e:1", dir); err != nil {
		t.Fatalf("OCI layout: %v\n%s\n%s", err, out, errOut)
	}
	checkArchs(t, ociLayout{t: t, dir: dest}, "1")

	// --push with two tagged references in two repositories.
	tag := uniq()
	refs := []string{theFarm.registry + "/e2e-" + e.name + ":" + tag, theFarm.registry + "/e2e-" + e.name + "-b:" + tag}
	out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64,linux/arm64", "--push", "--tls-verify=false", "-t", refs[0], "-t", refs[1], dir)
	if err != nil {
		t.Fatalf("--push: %v\n%s\n%s", err, out, errOut)
	}
	for _, ref := range refs {
		checkArchs(t, pullToLayout(t, ref), "t")
	}

	// Local storage, pushed afterwards by the user's own podman.
	name := "localhost/farm-e2e-" + e.name + ":" + uniq()
	t.Cleanup(func() { _ = runQuiet("podman", "manifest", "rm", name) })
	if out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64,linux/arm64", "-t", name, dir); err != nil {
		t.Fatalf("local storage: %v\n%s\n%s", err, out, errOut)
	}
	ref := theFarm.registry + "/e2e-" + e.name + "-local:" + uniq()
	run(t, "podman", "manifest", "push", "--all", "--tls-verify=false", name, "docker://"+ref)
	checkArchs(t, pullToLayout(t, ref), "t")
}

func engineTestGate(t *testing.T, e engineNode) {
	engineHome(t, e)
	ref := theFarm.registry + "/e2e-gated-" + e.name + "-" + uniq() + ":release"
	digestOf := func() string {
		return sha256Hex(run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref))
	}
	args := []string{"build", "--network", "host", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64", "--push", "--tls-verify=false", "-t", ref}
	out, errOut, err := farmCLI(t, append(args, "--test", "test -s /arch", "--test", "cat /hello.txt", writeContext(t, registryContainerfile()))...)
	if err != nil {
		t.Fatalf("a passing --test must push: %v\n%s\n%s", err, out, errOut)
	}
	if strings.Count(errOut, "] [test] hello") != 2 {
		t.Errorf("each platform's test output must be shown:\n%s", errOut)
	}
	good := digestOf()
	_, errOut, err = farmCLI(t, append(args, "--test", `uname -m; test "$(uname -m)" = x86_64`, writeContext(t, registryContainerfile()+"RUN echo changed > /changed\n"))...)
	if ExitCode(err) != exitTest {
		t.Fatalf("a failing test: exit %d (%v), want %d", ExitCode(err), err, exitTest)
	}
	if msg := OneLine(err); !strings.Contains(msg, "test failed on linux/arm64") || strings.Contains(msg, "on linux/amd64") {
		t.Errorf("the error must name the failing platform only: %s", msg)
	}
	if !strings.Contains(errOut, "[test] aarch64") {
		t.Errorf("the failing platform's test output must be shown:\n%s", errOut)
	}
	if now := digestOf(); now != good {
		t.Errorf("the tag moved from %s to %s after a failed test", good, now)
	}
}

// engineBuildError: a base image the node cannot pull is a build error
// (exit 1, the engine's words, one attempt), not a dead node.
func engineBuildError(t *testing.T, e engineNode) {
	engineHome(t, e)
	meta := filepath.Join(t.TempDir(), "meta.json")
	_, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64", "--metadata-file", meta, "-t", "x:1",
		writeContext(t, "FROM 127.0.0.1:1/nowhere/base:latest\nRUN true\n"))
	msg := OneLine(err)
	if ExitCode(err) != exitFailure || strings.Contains(msg, "unreachable") || strings.Contains(msg, "attempts") || !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("an unpullable base: exit %d, %s\n%s", ExitCode(err), msg, errOut)
	}
	var md buildMetadata
	data, _ := os.ReadFile(meta)
	if err := json.Unmarshal(data, &md); err != nil || len(md.Platforms) != 1 || md.Platforms[0].Attempts != 1 {
		t.Errorf("one attempt expected: %s (%v)", data, err)
	}
}

// engineLoginRegistry pushes to the registry that needs a login, with
// the credentials in an --authfile.
func engineLoginRegistry(t *testing.T, e engineNode) {
	engineHome(t, e)
	auth := authFileFor(t, theFarm.authRegistry, theFarm.authUser, theFarm.authPassword)
	ref := theFarm.authRegistry + "/e2e-login-" + e.name + ":" + uniq()
	if out, errOut, err := farmCLI(t, "build", "--network", "host", "--platforms", "linux/amd64,linux/arm64", "--push", "--tls-verify=false",
		"--authfile", auth, "-t", ref, writeContext(t, registryContainerfile())); err != nil {
		t.Fatalf("push with --authfile: %v\n%s\n%s", err, out, errOut)
	}
	raw := run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", auth, "docker://"+ref)
	if !strings.Contains(raw, `"architecture":"arm64"`) || !strings.Contains(raw, `"architecture":"amd64"`) {
		t.Errorf("pushed index: %s", raw)
	}
}

// authFileFor writes an auth file holding one registry's credentials.
func authFileFor(t *testing.T, registry, user, password string) string {
	t.Helper()
	return authFileOf(t, map[string]string{registry: user + ":" + password})
}

// authFileOf writes an auth file holding USER:PASSWORD by registry.
func authFileOf(t *testing.T, logins map[string]string) string {
	t.Helper()
	auths := map[string]any{}
	for registry, userPass := range logins {
		auths[registry] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(userPass))}
	}
	path := filepath.Join(t.TempDir(), "auth.json")
	data, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// engineLeftovers lists the containers and images on one node.
func engineLeftovers(t *testing.T, e engineNode) string {
	t.Helper()
	cli, ps := "podman", []string{"ps", "-a", "--external", "-q", "--no-trunc"}
	if e.kind == "docker" {
		cli, ps = "docker", []string{"ps", "-a", "-q", "--no-trunc"}
	}
	var out []string
	at := []string{"--url", "unix://" + e.sock()}
	if cli == "docker" {
		at = []string{"-H", "unix://" + e.sock()}
	}
	for _, args := range [][]string{ps, {"images", "-a", "-q", "--no-trunc"}} {
		res, err := exec.Command(cli, append(at, args...)...).Output()
		if err != nil {
			t.Fatalf("listing on %s: %v", e.name, err)
		}
		ids := strings.Fields(string(res))
		slices.Sort(ids)
		out = append(out, args[0]+": "+strings.Join(slices.Compact(ids), " "))
	}
	return strings.Join(out, "\n")
}

// engineCtrlC interrupts a two-platform build during its first RUN step:
// farm exits 130 at once and the node is left as it was, with no RUN
// process of the build running on.
func engineCtrlC(t *testing.T, e engineNode) {
	engineHome(t, e)
	marker := "start-" + uniq()
	dir := writeContext(t, "FROM "+theFarm.registry+"/base\nRUN echo "+marker+" && sleep 30 && uname -m > /arch\n")
	before := engineLeftovers(t, e)
	cmd, sc := startFarm(t, "build", "--network", "host", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64", "-t", "x:1", dir)
	var log []string
	for sc.Scan() {
		log = append(log, sc.Text())
		if strings.HasSuffix(sc.Text(), "] "+marker) {
			break
		}
	}
	interrupt(t, cmd, sc, log)
	// The engine may need a moment to drop what it was told to stop.
	var after string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if after = engineLeftovers(t, e); after == before && !processRuns(marker) {
			return
		}
	}
	if after != before {
		t.Errorf("Ctrl-C left containers or images on %s:\nbefore:\n%s\nafter:\n%s", e.name, before, after)
	}
	if processRuns(marker) {
		t.Errorf("the RUN step %s still runs on %s", marker, e.name)
	}
}

// processRuns reports whether a process whose command line holds marker runs.
func processRuns(marker string) bool {
	out, _ := exec.Command("pgrep", "-f", marker).Output()
	return len(strings.TrimSpace(string(out))) > 0
}

// engineNodeKilled kills the node's engine when a RUN step starts on it;
// its platform is built again on a podman 4 node.
func engineNodeKilled(t *testing.T, e engineNode) {
	engineHome(t, e)
	addNode(t, "p1", theFarm.podman1)
	mustCLI(t, "create", "pair", e.name, "p1")
	marker := "start-" + uniq()
	dir := writeContext(t, "FROM "+theFarm.registry+"/base\nRUN echo "+marker+" && sleep 8 && uname -m > /arch\n")
	t.Cleanup(func() { restartNode(t, e.name) })
	pid := nodePID(t, e.name)
	dest := filepath.Join(t.TempDir(), "layout")
	meta := filepath.Join(t.TempDir(), "meta.json")
	victim := regexp.MustCompile(`^\[(linux/[a-z0-9/]+)@` + e.name + `\] ` + marker + `$`)
	log, line, err := killWhen(t, pid, victim, "build", "--farm", "pair", "--network", "host", "--progress", "plain",
		"--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "--metadata-file", meta, "-t", "x:1", dir)
	if line == "" {
		t.Fatalf("no RUN step started on %s:\n%s", e.name, log)
	}
	killed := victim.FindStringSubmatch(line)[1]
	if err != nil {
		t.Fatalf("the platform of the killed node must be built again on p1: %v\n%s", err, log)
	}
	var md buildMetadata
	data, _ := os.ReadFile(meta)
	if err := json.Unmarshal(data, &md); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range md.Platforms {
		if p.Platform == killed {
			found = true
			if p.Node != "p1" || p.Attempts != 2 {
				t.Errorf("%s must be built again on p1 in a second attempt after %s died: %+v", killed, e.name, p)
			}
		}
	}
	if !found {
		t.Errorf("%s is missing from the metadata: %s", killed, data)
	}
	l := ociLayout{t: t, dir: dest}
	if got := l.file(l.index("1"), "arm64", "arch"); got != "aarch64\n" {
		t.Errorf("arm64 image ran on %q", got)
	}
}
