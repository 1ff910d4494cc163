//go:build e2e

package cmd

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/farm"
)

type statusJSON struct {
	Farm  string            `json:"farm"`
	Nodes []farm.NodeStatus `json:"nodes"`
}

func statusOf(t *testing.T, args ...string) (statusJSON, error) {
	t.Helper()
	out, _, err := farmCLI(t, append([]string{"status", "--format", "json"}, args...)...)
	var s statusJSON
	if jerr := json.Unmarshal([]byte(out), &s); jerr != nil {
		t.Fatalf("status JSON: %v\n%s", jerr, out)
	}
	return s, err
}

func nodeByName(t *testing.T, s statusJSON, name string) farm.NodeStatus {
	t.Helper()
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("node %s missing from %+v", name, s)
	return farm.NodeStatus{}
}

func TestE2EStatusAllNodes(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "p1", theFarm.podman1)
	addNode(t, "p2", theFarm.podman2)
	addNode(t, "dk", theFarm.docker)
	addNode(t, "arm", theFarm.arm64)
	mustCLI(t, "create", "all", "p1", "p2", "dk", "arm")

	s, err := statusOf(t)
	if err != nil {
		t.Fatalf("status: %v (%+v)", err, s)
	}
	if s.Farm != "all" || len(s.Nodes) != 4 {
		t.Fatalf("status of the default farm: %+v", s)
	}
	for _, name := range []string{"p1", "p2", "dk"} {
		n := nodeByName(t, s, name)
		if !n.Reachable || n.Native != "linux/amd64" || n.CPUs < 1 || n.MemoryBytes <= 0 || n.FreeBytes <= 0 || n.StorageRoot == "" {
			t.Errorf("%s: %+v", name, n)
		}
		if !slices.Contains(n.Emulated, "linux/arm64") || n.EmulationSource != "binfmt_misc" {
			t.Errorf("%s must report linux/arm64 emulated via binfmt_misc: %+v", name, n)
		}
	}
	if n := nodeByName(t, s, "p1"); n.Kind != "podman" || !strings.HasPrefix(n.Version, "4.") {
		t.Errorf("p1 engine: %+v", n)
	}
	if n := nodeByName(t, s, "dk"); n.Kind != "docker" || !strings.HasPrefix(n.Version, "20.10") {
		t.Errorf("docker node engine: %+v", n)
	}
	arm := nodeByName(t, s, "arm")
	if !arm.Reachable || arm.Kind != "podman" || arm.Native != "linux/arm64" || slices.Contains(arm.Emulated, "linux/arm64") {
		t.Errorf("native arm64 node: %+v", arm)
	}

	// The table shows the same facts.
	out := mustCLI(t, "status")
	for _, want := range []string{"NODE", "p1", "dk", "docker 20.10", "podman 4.", "linux/amd64", "linux/arm64"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
}

// hangingListener accepts TCP connections and never answers: a host that
// is up but whose sshd is wedged.
func hangingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestE2EStatusDeadNodes(t *testing.T) {
	e2eHome(t, true)
	addNode(t, "good", theFarm.podman1)
	addNode(t, "noengine", sshURI("/nonexistent/podman.sock"))
	addNode(t, "refused", "ssh://root@"+closedPort(t)+"/run/podman/podman.sock")
	addNode(t, "hung", "ssh://root@"+hangingListener(t)+"/run/podman/podman.sock")

	start := time.Now()
	_, _, err := farmCLI(t, "status", "--timeout", "4s")
	if code := ExitCode(err); code != exitInfra {
		t.Fatalf("status with dead nodes: exit %d (%v), want %d", code, err, exitInfra)
	}
	if !strings.Contains(err.Error(), "3 of 4 nodes down") {
		t.Errorf("error: %v", err)
	}
	s, _ := statusOf(t, "--timeout", "4s")
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("a hung node must not hold status up beyond its timeout: took %s", elapsed)
	}
	if n := nodeByName(t, s, "good"); !n.Reachable || n.Native != "linux/amd64" {
		t.Errorf("a dead node must not hide a good one: %+v", n)
	}
	for name, want := range map[string]string{
		"noengine": "/nonexistent/podman.sock",
		"refused":  "connection refused",
		"hung":     "no answer within 4s",
	} {
		n := nodeByName(t, s, name)
		if n.Reachable || !strings.Contains(n.Error, want) {
			t.Errorf("%s: want an error containing %q, got %+v", name, want, n)
		}
	}
}

func TestE2EUnknownHostKey(t *testing.T) {
	home := e2eHome(t, false)
	addNode(t, "p1", theFarm.podman1)
	_, _, err := farmCLI(t, "status")
	if code := ExitCode(err); code != exitInfra {
		t.Fatalf("unknown host: exit %d (%v)", code, err)
	}
	s, _ := statusOf(t)
	msg := nodeByName(t, s, "p1").Error
	known := filepath.Join(home, ".ssh", "known_hosts")
	// The trust command appends the exact line of the key that was seen.
	_, wantCmd, _ := strings.Cut(msg, "trust the key with: ")
	wantPrefix := "mkdir -p -m 700 " + filepath.Dir(known) + " && echo '[127.0.0.1]:" + theFarm.sshPort + " ssh-ed25519 AAAA"
	if !strings.Contains(msg, "[127.0.0.1]:"+theFarm.sshPort+" is not known") || !strings.Contains(msg, "SHA256:") ||
		!strings.HasPrefix(wantCmd, wantPrefix) || !strings.HasSuffix(wantCmd, "' >> "+known) {
		t.Fatalf("unknown host error must name the host, fingerprint and trust command %q...: %s", wantPrefix, msg)
	}
	if _, err := os.Stat(known); !os.IsNotExist(err) {
		t.Fatalf("known_hosts must never be written silently (stat: %v)", err)
	}
	// The command the error gives really does trust the host.
	if out, err := exec.Command("sh", "-c", wantCmd).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", wantCmd, err, out)
	}
	if s, err := statusOf(t); err != nil || !s.Nodes[0].Reachable {
		t.Fatalf("after trusting: %v %+v", err, s)
	}
}

func TestE2EChangedHostKey(t *testing.T) {
	home := e2eHome(t, false)
	// known_hosts holds another ed25519 key for the farm's sshd.
	keyFile := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	line := "[127.0.0.1]:" + theFarm.sshPort + " " + fields[0] + " " + fields[1] + "\n"
	known := filepath.Join(home, ".ssh", "known_hosts")
	if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	addNode(t, "p1", theFarm.podman1)
	s, err := statusOf(t)
	if ExitCode(err) != exitInfra {
		t.Fatalf("changed key: exit %d (%v)", ExitCode(err), err)
	}
	msg := nodeByName(t, s, "p1").Error
	if !strings.Contains(msg, "has CHANGED") || !strings.Contains(msg, "ssh-keygen -R") {
		t.Errorf("changed key error: %s", msg)
	}
	if data, _ := os.ReadFile(known); string(data) != line {
		t.Errorf("known_hosts was modified: %q", data)
	}
}

func TestE2EConnectionAddDiscoversSocket(t *testing.T) {
	e2eHome(t, true)
	out, errOut, err := farmCLI(t, "connection", "add", "--identity", theFarm.identity, "disc", "root@127.0.0.1:"+theFarm.sshPort)
	if err != nil {
		t.Fatalf("connection add: %v\n%s", err, errOut)
	}
	c := connectionNamed(t, "disc")
	if !strings.HasPrefix(c.URI, sshURI("/")) || !strings.HasSuffix(c.URI, "/podman.sock") {
		t.Errorf("discovered URI %q (%s)", c.URI, out)
	}
	// The node is this machine: a socket path that nothing serves here is
	// said at once.
	sock := c.URI[strings.Index(c.URI[len("ssh://"):], "/")+len("ssh://"):]
	if conn, dialErr := net.Dial("unix", sock); dialErr != nil {
		if !strings.Contains(errOut, "warning: nothing answers on "+sock) {
			t.Errorf("no warning that nothing serves %s:\n%s", sock, errOut)
		}
	} else {
		conn.Close()
	}
	// A node that refuses the connection is unreachable: exit 3.
	_, _, err = farmCLI(t, "connection", "add", "--identity", theFarm.identity, "down", "ssh://root@127.0.0.1:1")
	if ExitCode(err) != exitInfra {
		t.Errorf("connection add to a refused port: exit %d (%v), want %d", ExitCode(err), err, exitInfra)
	}
	// Discovery goes through the same strict host key check.
	e2eHome(t, false)
	_, _, err = farmCLI(t, "connection", "add", "--identity", theFarm.identity, "disc", "ssh://root@127.0.0.1:"+theFarm.sshPort)
	if err == nil || ExitCode(err) != exitInfra || !strings.Contains(err.Error(), "is not known") {
		t.Errorf("discovery on an unknown host: %v", err)
	}
}

func connectionNamed(t *testing.T, name string) config.Connection {
	t.Helper()
	var conns []config.Connection
	if err := json.Unmarshal([]byte(mustCLI(t, "connection", "list", "--format", "json")), &conns); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no connection %s in %+v", name, conns)
	return config.Connection{}
}
