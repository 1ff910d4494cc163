//go:build e2e

package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EDockerPrivateBase builds FROM an image in the registry that needs
// a login on docker nodes with BuildKit (20.10, and 28.5.2 with either
// image store), which take pull credentials only from the build's session:
// without a login the node cannot pull the base; with one, it pulls with
// that login; a host no FROM line names gets no login through the session
// even when the client has one for it.
func TestE2EDockerPrivateBase(t *testing.T) {
	for _, e := range []engineNode{
		{name: "docker", uri: theFarm.docker, kind: "docker"},
		{name: "docker28", uri: theFarm.docker28, kind: "docker"},
		{name: "docker28c", uri: theFarm.docker28c, kind: "docker"},
	} {
		t.Run(e.name, func(t *testing.T) { dockerPrivateBase(t, e) })
	}
}

func dockerPrivateBase(t *testing.T, e engineNode) {
	engineHome(t, e)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // no stored login
	// A new repository each time: no node has the base in its cache.
	base := theFarm.authRegistry + "/e2e-dauth-base-" + e.name + "-" + uniq() + ":1"
	run(t, "skopeo", "copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
		"--dest-creds", theFarm.authUser+":"+theFarm.authPassword, "docker://"+theFarm.registry+"/base", "docker://"+base)
	dir := writeContext(t, "FROM "+base+"\nRUN echo built-on-$(uname -m) > /built\n")
	dest := filepath.Join(t.TempDir(), "layout")
	args := []string{"build", "--network", "host", "--progress", "plain", "--platforms", "linux/amd64", "--tls-verify=false",
		"--output", "type=oci,dest=" + dest, "-t", "p:1"}

	if _, errOut, err := farmCLI(t, append(append([]string{}, args...), dir)...); err == nil {
		t.Fatalf("without a login the node must not pull the base:\n%s", errOut)
	}

	regLog := filepath.Join(theFarm.dir, "authreg", "log")
	logStart, err := os.Stat(regLog)
	if err != nil {
		t.Fatal(err)
	}
	auth := authFileFor(t, theFarm.authRegistry, theFarm.authUser, theFarm.authPassword)
	_, errOut, err := farmCLI(t, append(append([]string{}, args...), "--authfile", auth, dir)...)
	if err != nil {
		t.Fatalf("a base in a registry the client has a login for: %v\n%s", err, errOut)
	}
	if l := (ociLayout{t: t, dir: dest}); l.file(l.index("1"), "amd64", "built") != "built-on-x86_64\n" {
		t.Errorf("/built = %q", l.file(l.index("1"), "amd64", "built"))
	}

	// The client gave the node the login for the base's registry, once,
	// and no other.
	if n := strings.Count(errOut, "gave the node the credentials for "+theFarm.authRegistry+" "); n != 1 || strings.Count(errOut, "gave the node the credentials") != 1 {
		t.Errorf("the build output must say once that the node got the credentials for %s, and for nothing else:\n%s", theFarm.authRegistry, errOut)
	}
	// The registry saw the node pull with the login (it logs "authorized
	// request" once the login passed).
	nodePulls := 0
	for _, line := range regLogSince(t, logStart.Size()) {
		if strings.Contains(line, `msg="authorized request"`) && strings.Contains(line, "/v2/e2e-dauth-base-") &&
			!strings.Contains(line, "farm (client)") && !strings.Contains(line, "skopeo/") {
			nodePulls++
		}
	}
	if nodePulls == 0 {
		t.Errorf("the registry's log shows no pull of the base with the login by the node")
	}

	// The same registry under another name, which the client has a login
	// for too, named by COPY --from, not by a FROM line: the node asks the
	// session for that host's login and gets none.
	_, port, _ := strings.Cut(theFarm.authRegistry, ":")
	other := "localhost:" + port
	login := theFarm.authUser + ":" + theFarm.authPassword
	auth = authFileOf(t, map[string]string{theFarm.authRegistry: login, other: login})
	dir = writeContext(t, "FROM "+base+"\nCOPY --from="+strings.Replace(base, theFarm.authRegistry, other, 1)+" /bin/sh /copied-sh\n")
	if logStart, err = os.Stat(regLog); err != nil {
		t.Fatal(err)
	}
	_, errOut, err = farmCLI(t, append(append([]string{}, args...), "--authfile", auth, dir)...)
	if err == nil || !strings.Contains(OneLine(err), "401") {
		t.Errorf("COPY --from an image of a registry no FROM line names must not get its login: %v\n%s", err, errOut)
	}
	if strings.Contains(errOut, "gave the node the credentials for "+other) {
		t.Errorf("the node got the credentials for %s:\n%s", other, errOut)
	}
	asked := 0
	for _, line := range regLogSince(t, logStart.Size()) {
		if strings.Contains(line, `http.request.host="`+other+`"`) {
			asked++
			if strings.Contains(line, `msg="authorized request"`) || strings.Contains(line, "auth.user.name=") {
				t.Errorf("the node used a login for %s: %s", other, line)
			}
		}
	}
	if asked == 0 {
		t.Errorf("the node never asked %s: the check above proves nothing", other)
	}
}

// regLogSince returns the lines the login registry logged after offset.
func regLogSince(t *testing.T, offset int64) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(theFarm.dir, "authreg", "log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data[offset:])), "\n")
}
