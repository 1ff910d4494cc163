//go:build e2e

package cmd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EErrorsAreOneLine runs the real binary on mistakes a user makes:
// each must give one line on standard error, saying what is wrong and what
// to do, with the documented exit code, and no stack trace.
func TestE2EErrorsAreOneLine(t *testing.T) {
	home := e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	addNode(t, "gone", "ssh://root@"+closedPort(t)+"/run/podman/podman.sock")
	mustCLI(t, "connection", "add", "nokey", theFarm.podman2) // no --identity, no keys in HOME
	mustCLI(t, "create", "dead", "gone")
	mustCLI(t, "create", "keyless", "nokey")
	ctx := writeContext(t, archContainerfile)
	empty := t.TempDir()
	bin := filepath.Join(theFarm.repoRoot, "bin", "farm")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad platform", []string{"build", "--platforms", "linux/arm65", "-t", "x", ctx}, exitUsage, `unknown architecture "arm65"`},
		{"unknown farm", []string{"build", "--farm", "nope", "-t", "x", ctx}, exitUsage, "see farm list"},
		{"unknown connection", []string{"connection", "remove", "nope"}, exitUsage, "see farm connection list"},
		{"missing Containerfile", []string{"build", "--farm", "dead", "-t", "x", empty}, exitUsage, "pass -f FILE"},
		{"unreachable node", []string{"build", "--farm", "dead", "--connect-timeout", "3s", "-t", "x", ctx}, exitInfra, "none of the farm's 1 nodes can be reached"},
		{"wrong key", []string{"status", "--farm", "keyless"}, exitInfra, "1 of 1 nodes down"},
		{"bad flag value", []string{"build", "--progress", "fancy", "-t", "x", ctx}, exitUsage, "use auto, tty, plain or json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "HOME="+home)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Errorf("exit %v, want %d\n%s", err, tc.code, stderr.String())
			}
			var errLines []string
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if strings.HasPrefix(l, "Error:") {
					errLines = append(errLines, l)
				}
			}
			if len(errLines) != 1 || !strings.Contains(errLines[0], tc.want) || strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("want one Error: line containing %q, got:\n%s", tc.want, stderr.String())
			}
		})
	}
}
