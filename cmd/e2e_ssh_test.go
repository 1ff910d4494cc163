//go:build e2e

package cmd

import (
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

// TestE2EPodmanInterop checks that connections podman itself adds are seen
// by farm and usable, and that podman still reads its configuration after
// farm wrote its file. Debian's podman 4 keeps connections in
// containers.conf (podman 5 in podman-connections.json, which farm writes),
// and podman 4.3.1 drops the socket path of an ssh URI, so farm discovers it.
func TestE2EPodmanInterop(t *testing.T) {
	home := e2eHome(t, true)
	podman := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("podman", args...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	podman("system", "connection", "add", "--identity", theFarm.identity, "podssh", theFarm.podman1)
	podman("system", "connection", "add", "podunix", "unix://"+os.Getenv("FARM_TEST_PODMAN2_SOCK"))

	c := connectionNamed(t, "podssh")
	if !strings.HasPrefix(theFarm.podman1, c.URI) || c.Identity != theFarm.identity || c.ReadWrite || !c.Default {
		t.Errorf("podman's ssh connection as farm reads it: %+v", c)
	}
	if c := connectionNamed(t, "podunix"); c.URI != "unix://"+os.Getenv("FARM_TEST_PODMAN2_SOCK") || c.ReadWrite {
		t.Errorf("podman's unix connection as farm reads it: %+v", c)
	}
	addNode(t, "fromfarm", theFarm.podman1)
	mustCLI(t, "create", "mixed", "fromfarm")
	if msg := wantExit(t, exitUsage, "update", "mixed", "--add", "podunix"); !strings.Contains(msg, "containers.conf") {
		t.Errorf("a JSON farm cannot hold a containers.conf connection (podman's rule): %s", msg)
	}
	s, err := statusOf(t)
	if err != nil || !s.Nodes[0].Reachable {
		t.Fatalf("status of a farm-made connection: %v %+v", err, s)
	}
	mustCLI(t, "remove", "--all")
	s, _ = statusOf(t)
	if n := nodeByName(t, s, "podunix"); !n.Reachable || n.Kind != "podman" {
		t.Errorf("status through podman's own connection: %+v", n)
	}

	// podman still lists its connections after farm wrote podman-connections.json.
	out := podman("system", "connection", "list", "--format", "{{.Name}}")
	if !strings.Contains(out, "podssh") || !strings.Contains(out, "podunix") {
		t.Errorf("podman lost its connections: %q", out)
	}
	podman("system", "connection", "remove", "podunix")
	conns := mustCLI(t, "connection", "list")
	if strings.Contains(conns, "podunix") || !strings.Contains(conns, "fromfarm") {
		t.Errorf("after podman removed its connection: %s", conns)
	}
}
