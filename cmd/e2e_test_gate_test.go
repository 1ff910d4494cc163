//go:build e2e

package cmd

import (
	"strings"
	"testing"
)

func TestE2ETestGatedPush(t *testing.T) {
	buildFarmHome(t)
	ref := theFarm.registry + "/e2e-gated-" + uniq() + ":release"
	digestOf := func() string {
		return sha256Hex(run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref))
	}
	// A passing test pushes.
	out, errOut, err := farmCLI(t, "build", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64", "--test", "test -s /arch", "--test", "cat /hello.txt",
		"--push", "--tls-verify=false", "-t", ref, writeContext(t, archContainerfile))
	if err != nil {
		t.Fatalf("a passing --test must push: %v\n%s\n%s", err, out, errOut)
	}
	if strings.Count(errOut, "] [test] hello") != 2 {
		t.Errorf("each platform's test output must be shown:\n%s", errOut)
	}
	good := digestOf()

	// A test that fails only on linux/arm64 leaves the tag where it was.
	_, errOut, err = farmCLI(t, "build", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64", "--test", `uname -m; test "$(uname -m)" = x86_64`,
		"--push", "--tls-verify=false", "-t", ref, writeContext(t, archContainerfile+"RUN echo changed > /changed\n"))
	if ExitCode(err) != exitTest {
		t.Fatalf("a failing test: exit %d (%v), want %d", ExitCode(err), err, exitTest)
	}
	if msg := OneLine(err); !strings.Contains(msg, "test failed on linux/arm64") || strings.Contains(msg, "on linux/amd64") {
		t.Errorf("the error must name the failing platform only: %s", msg)
	}
	if !strings.Contains(errOut, "[linux/arm64@") || !strings.Contains(errOut, "[test] aarch64") {
		t.Errorf("the failing platform's test output must be shown:\n%s", errOut)
	}
	if now := digestOf(); now != good {
		t.Errorf("the tag moved from %s to %s after a failed test", good, now)
	}
}
