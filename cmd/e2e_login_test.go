//go:build e2e

package cmd

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2ELoginRegistry pushes to the registry that needs a login with the
// credentials `podman login` stored, and checks that a push without them,
// or with wrong ones, stops before any node is contacted: exit 2, one line
// saying what to do, no build record.
func TestE2ELoginRegistry(t *testing.T) {
	buildFarmHome(t)
	// podman login and farm share the default auth file under
	// $XDG_RUNTIME_DIR; the test gets its own.
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	repo := "e2e-login-" + uniq()
	ref := theFarm.authRegistry + "/" + repo + ":1"
	dir := writeContext(t, archContainerfile)
	args := []string{"build", "--platforms", "linux/amd64,linux/arm64", "--push", "--tls-verify=false", "-t", ref, dir}

	_, errOut, err := farmCLI(t, args...)
	if msg := OneLine(err); ExitCode(err) != exitUsage || !strings.Contains(msg, "needs a login") || !strings.Contains(msg, "podman login "+theFarm.authRegistry) {
		t.Errorf("a push without credentials: exit %d, %q", ExitCode(err), msg)
	}
	if strings.Contains(errOut, "Build ") || strings.Contains(mustCLI(t, "history"), "e2e-login") {
		t.Errorf("a usage error must not start a build record:\n%s", errOut)
	}
	_, _, err = farmCLI(t, append([]string{"--authfile", authFileFor(t, theFarm.authRegistry, theFarm.authUser, "wrong")}, args...)...)
	if msg := OneLine(err); ExitCode(err) != exitUsage || !strings.Contains(msg, "refused the credentials of "+theFarm.authUser) {
		t.Errorf("a push with wrong credentials: exit %d, %q", ExitCode(err), msg)
	}
	auth := authFileFor(t, theFarm.authRegistry, theFarm.authUser, theFarm.authPassword)
	if out, err := exec.Command("skopeo", "list-tags", "--tls-verify=false", "--authfile", auth,
		"docker://"+theFarm.authRegistry+"/"+repo).CombinedOutput(); err == nil || !strings.Contains(string(out), "404") {
		t.Errorf("nothing may reach the registry before the credentials are right: %v %s", err, out)
	}

	login := exec.Command("podman", "login", "--tls-verify=false", "-u", theFarm.authUser, "--password-stdin", theFarm.authRegistry)
	login.Stdin = strings.NewReader(theFarm.authPassword)
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("podman login: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "containers", "auth.json")); err != nil {
		t.Fatalf("podman login stored its credentials elsewhere: %v", err)
	}
	regLog := filepath.Join(theFarm.dir, "authreg", "log")
	logStart, err := os.Stat(regLog)
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := farmCLI(t, args...); err != nil {
		t.Fatalf("a push with the credentials podman login stored: %v\n%s\n%s", err, out, errOut)
	}
	raw := run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", auth, "docker://"+ref)
	if !strings.Contains(raw, `"architecture":"arm64"`) || !strings.Contains(raw, `"architecture":"amd64"`) {
		t.Errorf("pushed index: %s", raw)
	}
	// The registry saw the user's login only from farm's client: the nodes
	// were given no credential.
	data, err := os.ReadFile(regLog)
	if err != nil {
		t.Fatal(err)
	}
	authed := 0
	for _, line := range strings.Split(string(data[logStart.Size():]), "\n") {
		if !strings.Contains(line, "auth.user.name=") {
			continue
		}
		authed++
		if !strings.Contains(line, `http.request.useragent="farm (client)"`) {
			t.Errorf("a request with the user's login came from elsewhere than farm's client: %s", line)
			break
		}
	}
	if authed == 0 {
		t.Errorf("the registry's log shows no authenticated request from the push")
	}
	// And the repository holds only the user's tag.
	tags := run(t, "skopeo", "list-tags", "--tls-verify=false", "--authfile", auth, "docker://"+theFarm.authRegistry+"/"+repo)
	var list struct{ Tags []string }
	if err := json.Unmarshal([]byte(tags), &list); err != nil || len(list.Tags) != 1 || list.Tags[0] != "1" {
		t.Errorf("after --push the repository must hold only the user's tags:\n%s", tags)
	}
}
