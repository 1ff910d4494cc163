//go:build e2e

package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testFarm is the running test farm, as hack/testfarm.sh describes it in
// farm.env (sourced by hack/run-e2e.sh).
type testFarm struct {
	dir, sshPort, identity, knownHosts, registry string
	podman1, podman2, docker, arm64              string
	// podman5 is podman 5.8.6; docker28 and docker28c are dockerd 28.5.2
	// with the classic and the containerd image store.
	podman5, docker28, docker28c string
	// authRegistry needs a login as authUser with authPassword.
	authRegistry, authUser, authPassword string
	repoRoot                             string
}

// theFarm is read once by TestMain; the e2e tests fail when it is missing.
var theFarm testFarm

func TestMain(m *testing.M) {
	theFarm = testFarm{
		dir:        os.Getenv("FARM_TEST_DIR"),
		sshPort:    os.Getenv("FARM_TEST_SSH_PORT"),
		identity:   os.Getenv("FARM_TEST_IDENTITY"),
		knownHosts: os.Getenv("FARM_TEST_KNOWN_HOSTS"),
		registry:   os.Getenv("FARM_TEST_REGISTRY"),
		podman1:    os.Getenv("FARM_TEST_PODMAN1_URI"),
		podman2:    os.Getenv("FARM_TEST_PODMAN2_URI"),
		docker:     os.Getenv("FARM_TEST_DOCKER_URI"),
		arm64:      os.Getenv("FARM_TEST_ARM64_URI"),
		podman5:    os.Getenv("FARM_TEST_PODMAN5_URI"),
		docker28:   os.Getenv("FARM_TEST_DOCKER28_URI"),
		docker28c:  os.Getenv("FARM_TEST_DOCKER28C_URI"),
		repoRoot:   os.Getenv("FARM_REPO_ROOT"),

		authRegistry: os.Getenv("FARM_TEST_AUTH_REGISTRY"),
		authUser:     os.Getenv("FARM_TEST_AUTH_USER"),
		authPassword: os.Getenv("FARM_TEST_AUTH_PASSWORD"),
	}
	var missing []string
	for name, v := range map[string]string{
		"FARM_TEST_DIR": theFarm.dir, "FARM_TEST_SSH_PORT": theFarm.sshPort, "FARM_TEST_IDENTITY": theFarm.identity,
		"FARM_TEST_KNOWN_HOSTS": theFarm.knownHosts, "FARM_TEST_PODMAN1_URI": theFarm.podman1,
		"FARM_TEST_PODMAN2_URI": theFarm.podman2, "FARM_TEST_DOCKER_URI": theFarm.docker, "FARM_TEST_ARM64_URI": theFarm.arm64,
		"FARM_TEST_REGISTRY": theFarm.registry, "FARM_REPO_ROOT": theFarm.repoRoot,
		"FARM_TEST_PODMAN5_URI": theFarm.podman5, "FARM_TEST_DOCKER28_URI": theFarm.docker28,
		"FARM_TEST_DOCKER28C_URI": theFarm.docker28c, "FARM_TEST_AUTH_REGISTRY": theFarm.authRegistry,
		"FARM_TEST_AUTH_USER": theFarm.authUser, "FARM_TEST_AUTH_PASSWORD": theFarm.authPassword,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: the test farm is not running or incomplete (missing %s): run make test, or hack/testfarm.sh start then hack/run-e2e.sh\n", strings.Join(missing, ", "))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// e2eHome gives the test its own HOME and podman configuration, with the
// test farm's host key in ~/.ssh/known_hosts (unless trust is false), and
// returns the home directory.
func e2eHome(t *testing.T, trust bool) string {
	t.Helper()
	home := isolate(t)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if trust {
		data, err := os.ReadFile(theFarm.knownHosts)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	return home
}

// addNode adds a connection to a test farm node with the farm's identity.
func addNode(t *testing.T, name, uri string) {
	t.Helper()
	mustCLI(t, "connection", "add", "--identity", theFarm.identity, name, uri)
}

// sshURI is an ssh:// URI to the test farm's sshd with the given path.
func sshURI(path string) string {
	return "ssh://root@127.0.0.1:" + theFarm.sshPort + path
}
