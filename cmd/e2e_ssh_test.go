//go:build e2e

package cmd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestE2ESSHConfigAlias(t *testing.T) {
	home := e2eHome(t, true)
	cfg := "Host farmnode\n  HostName 127.0.0.1\n  Port " + theFarm.sshPort + "\n  User root\n  IdentityFile " + theFarm.identity + "\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	socket := strings.TrimPrefix(theFarm.podman2, sshURI(""))
	mustCLI(t, "connection", "add", "aliased", "ssh://farmnode"+socket)
	s, err := statusOf(t)
	if err != nil || !s.Nodes[0].Reachable || s.Nodes[0].Kind != "podman" {
		t.Fatalf("status through an ssh config alias: %v %+v", err, s)
	}
}

// startAgent runs a real ssh-agent holding the farm's key and points
// SSH_AUTH_SOCK at it.
func startAgent(t *testing.T) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	for range 50 {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	if out, err := exec.Command("ssh-add", theFarm.identity).CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
}

func TestE2ESSHAgent(t *testing.T) {
	e2eHome(t, true)
	startAgent(t)
	mustCLI(t, "connection", "add", "viaagent", theFarm.podman1) // no --identity: the agent has the key
	s, err := statusOf(t)
	if err != nil || !s.Nodes[0].Reachable {
		t.Fatalf("status with the key only in ssh-agent: %v %+v", err, s)
	}
}

func TestE2ENoKey(t *testing.T) {
	e2eHome(t, true)
	mustCLI(t, "connection", "add", "nokey", theFarm.podman1)
	s, err := statusOf(t)
	if ExitCode(err) != exitInfra || !strings.Contains(s.Nodes[0].Error, "--identity") {
		t.Errorf("no usable key must say how to give one: %v %+v", err, s)
	}
	mustCLI(t, "connection", "add", "--identity", "/nonexistent/key", "badkey", theFarm.podman1)
	s, _ = statusOf(t)
	if n := nodeByName(t, s, "badkey"); !strings.Contains(n.Error, "/nonexistent/key") {
		t.Errorf("a missing identity file must be named: %+v", n)
	}
}

// TestE2EPodmanInterop checks that a connection podman itself adds is seen
// by farm and usable. (Debian's podman 4 keeps connections in
// containers.conf; podman 5 in podman-connections.json, which farm writes.)
func TestE2EPodmanInterop(t *testing.T) {
	home := e2eHome(t, true)
	podman := exec.Command("podman", "system", "connection", "add", "--identity", theFarm.identity, "frompodman", theFarm.podman1)
	podman.Env = append(os.Environ(), "HOME="+home)
	if out, err := podman.CombinedOutput(); err != nil {
		t.Fatalf("podman system connection add: %v\n%s", err, out)
	}
	c := connectionNamed(t, "frompodman")
	if c.URI != theFarm.podman1 || c.Identity != theFarm.identity {
		t.Errorf("podman's connection as farm reads it: %+v", c)
	}
	mustCLI(t, "connection", "add", "fromfarm", theFarm.podman2)
	s, err := statusOf(t)
	if err != nil {
		t.Fatalf("status over podman's and farm's connections: %v %+v", err, s)
	}

	// podman sees nothing broken after farm wrote its file.
	list := exec.Command("podman", "system", "connection", "list", "--format", "{{.Name}}")
	list.Env = append(os.Environ(), "HOME="+home)
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("podman system connection list: %v\n%s", err, out)
	}
	var names []string
	for sc := bufio.NewScanner(strings.NewReader(string(out))); sc.Scan(); {
		names = append(names, strings.TrimSpace(sc.Text()))
	}
	if !strings.Contains(strings.Join(names, ","), "frompodman") {
		t.Errorf("podman lost its connection: %q", out)
	}
}
