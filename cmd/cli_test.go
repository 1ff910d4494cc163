package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmbuild/farm/builders"
	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
)

// isolate points podman's configuration files at a fresh directory.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, ".local", "state"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, ".cache"))
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("HOME", dir)
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAINERS_CONF", conf)
	t.Setenv("CONTAINERS_CONF_OVERRIDE", "")
	t.Setenv("PODMAN_CONNECTIONS_CONF", filepath.Join(dir, "podman-connections.json"))
	return dir
}

// farmCLI runs the farm command tree in-process.
func farmCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return farmCLIWith(t, builders.Open, args...)
}

// farmCLIWith runs farm in-process with open as the way to the engines.
func farmCLIWith(t *testing.T, open engine.Opener, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd(open)
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// mustCLI runs farm and fails the test on an error.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := farmCLI(t, args...)
	if err != nil {
		t.Fatalf("farm %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// wantExit runs farm, expects it to fail with the given exit code, and
// returns the error message, which must be one line.
func wantExit(t *testing.T, code int, args ...string) string {
	t.Helper()
	_, _, err := farmCLI(t, args...)
	if err == nil {
		t.Fatalf("farm %s: expected exit %d, got success", strings.Join(args, " "), code)
	}
	if got := ExitCode(err); got != code {
		t.Errorf("farm %s: exit %d, want %d (%v)", strings.Join(args, " "), got, code, err)
	}
	msg := OneLine(err)
	if msg == "" {
		t.Errorf("farm %s: empty error message", strings.Join(args, " "))
	}
	return msg
}

func TestConnectionCommands(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "n1", "unix:///run/n1.sock")
	mustCLI(t, "connection", "add", "--identity", "key", "n2", "ssh://root@host.example:2222/run/podman/podman.sock")
	mustCLI(t, "connection", "add", "--default", "n3", "root@other.example:22/run/docker.sock")

	out := mustCLI(t, "connection", "list")
	for _, want := range []string{"NAME", "n1", "unix:///run/n1.sock", "ssh://root@host.example:2222/run/podman/podman.sock", "ssh://root@other.example:22/run/docker.sock"} {
		if !strings.Contains(out, want) {
			t.Errorf("connection list lacks %q:\n%s", want, out)
		}
	}
	var conns []config.Connection
	if err := json.Unmarshal([]byte(mustCLI(t, "connection", "list", "--format", "json")), &conns); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 3 || !conns[2].Default || conns[0].Default || !filepath.IsAbs(conns[1].Identity) {
		t.Errorf("json list: %+v", conns)
	}

	mustCLI(t, "connection", "rename", "n1", "first")
	mustCLI(t, "connection", "rm", "n2")
	if err := json.Unmarshal([]byte(mustCLI(t, "connection", "ls", "--format", "json")), &conns); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 2 || conns[0].Name != "first" || conns[1].Name != "n3" {
		t.Errorf("after rename and remove: %+v", conns)
	}
}

func TestConnectionErrors(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "n1", "unix:///run/n1.sock")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"connection", "add", "n1", "unix:///x"}, exitUsage, `connection "n1" already exists`},
		{[]string{"connection", "add", "x", "tcp://host:1"}, exitUsage, "unsupported scheme"},
		{[]string{"connection", "add", "x", "unix://relative"}, exitUsage, "absolute path"},
		{[]string{"connection", "add", "x"}, exitUsage, "takes 2 argument(s)"},
		{[]string{"connection", "remove", "nope"}, exitUsage, `connection "nope": not found`},
		{[]string{"connection", "rename", "nope", "x"}, exitUsage, "not found"},
		{[]string{"connection", "list", "--format", "xml"}, exitUsage, "use table or json"},
		{[]string{"connection", "add", "--bogus", "a", "b"}, exitUsage, "unknown flag"},
		{[]string{"--log-level", "loud", "connection", "list"}, exitUsage, "--log-level"},
	} {
		msg := wantExit(t, tc.code, tc.args...)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("farm %s: error %q lacks %q", strings.Join(tc.args, " "), msg, tc.want)
		}
	}
}

func TestFarmCommands(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "a", "unix:///a.sock")
	mustCLI(t, "connection", "add", "b", "unix:///b.sock")
	mustCLI(t, "create", "f1", "a")
	mustCLI(t, "create", "f2")
	mustCLI(t, "update", "f2", "--add", "a,b")
	mustCLI(t, "update", "f2", "--remove", "a", "--default")

	var farms []config.Farm
	if err := json.Unmarshal([]byte(mustCLI(t, "list", "--format", "json")), &farms); err != nil {
		t.Fatal(err)
	}
	if len(farms) != 2 || farms[0].Default || !farms[1].Default || strings.Join(farms[1].Connections, ",") != "b" {
		t.Fatalf("farms: %+v", farms)
	}
	if out := mustCLI(t, "list"); !strings.Contains(out, "f2") || !strings.Contains(out, "CONNECTIONS") {
		t.Errorf("table: %s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "f1"}, "already exists"},
		{[]string{"create", "f3", "nope"}, `connection "nope": not found`},
		{[]string{"update", "nope", "--default"}, `farm "nope": not found`},
		{[]string{"update", "f1"}, "nothing to update"},
		{[]string{"remove"}, "give farm names or --all"},
		{[]string{"remove", "f1", "--all"}, "give farm names or --all"},
		{[]string{"remove", "nope"}, `farm "nope": not found`},
		{[]string{"status", "--farm", "nope"}, `farm "nope": not found`},
		{[]string{"status", "--format", "yaml"}, "use table or json"},
	} {
		if msg := wantExit(t, exitUsage, tc.args...); !strings.Contains(msg, tc.want) {
			t.Errorf("farm %s: error %q lacks %q", strings.Join(tc.args, " "), msg, tc.want)
		}
	}

	mustCLI(t, "remove", "f2")
	if err := json.Unmarshal([]byte(mustCLI(t, "list", "--format", "json")), &farms); err != nil {
		t.Fatal(err)
	}
	if len(farms) != 1 || !farms[0].Default {
		t.Errorf("after removing the default farm the remaining one must be default: %+v", farms)
	}
	mustCLI(t, "remove", "--all")
	if out := mustCLI(t, "list", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("after --all: %s", out)
	}
	// Connections stay when farms go.
	if out := mustCLI(t, "connection", "list"); !strings.Contains(out, "a.sock") {
		t.Errorf("connections lost: %s", out)
	}
}

func TestStatusWithoutConnections(t *testing.T) {
	isolate(t)
	msg := wantExit(t, exitInfra, "status")
	if !strings.Contains(msg, "farm connection add") {
		t.Errorf("status with no connections must say how to add one: %q", msg)
	}
	mustCLI(t, "create", "empty")
	if msg := wantExit(t, exitInfra, "status"); !strings.Contains(msg, "has no connections") {
		t.Errorf("empty farm: %q", msg)
	}
}

func TestCompletion(t *testing.T) {
	isolate(t)
	for shell, want := range map[string]string{"bash": "__start_farm", "zsh": "#compdef farm", "fish": "complete -c farm"} {
		if out := mustCLI(t, "completion", shell); !strings.Contains(out, want) {
			t.Errorf("farm completion %s lacks %q", shell, want)
		}
	}
}

// A Containerfile the engines would refuse is reported as FILE:LINE before
// any node is contacted, with exit 2 and no build record.
func TestBuildChecksTheContainerfileFirst(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "n1", "unix:///nonexistent/n1.sock")
	noNode := func(context.Context, engine.Link) (engine.Builder, error) {
		t.Error("a node was contacted")
		return nil, errors.New("no")
	}
	for _, tc := range []struct{ file, want string }{
		{"FROM base\nRUNN make\n", `Containerfile:2: unknown instruction "RUNN"`},
		{"", "Containerfile: it has no instructions"},
		{"COPY . /\n", "Containerfile:1: COPY before any FROM"},
	} {
		dir := t.TempDir()
		writeFile(t, dir+"/Containerfile", tc.file)
		_, _, err := farmCLIWith(t, noNode, "build", "--platforms", "linux/amd64", "-t", "x:1", dir)
		if ExitCode(err) != exitUsage || !strings.Contains(OneLine(err), tc.want) {
			t.Errorf("Containerfile %q: exit %d, %v; want %q", tc.file, ExitCode(err), err, tc.want)
		}
	}
	if out := mustCLI(t, "history"); strings.Contains(out, "x:1") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Errorf("a usage error must leave no record:\n%s", out)
	}
}

// Every command suggests the nearest flag to one it does not know.
func TestUnknownFlagSuggestsTheNearestEverywhere(t *testing.T) {
	isolate(t)
	for _, args := range [][]string{{"history", "--resutl", "failed"}, {"status", "--fromat", "json"}, {"logs", "--folow", "x"}} {
		if msg := wantExit(t, exitUsage, args...); !strings.Contains(msg, "did you mean --") {
			t.Errorf("farm %s: %q", strings.Join(args, " "), msg)
		}
	}
}
