package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveSSH(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(t, os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(`
Host builder
  HostName 192.0.2.7
  Port 2200
  User builder-user
  IdentityFile ~/.ssh/builder_key
  UserKnownHostsFile ~/.ssh/farm_known_hosts

Host *
  User fallback
`), 0o600))

	tgt, err := resolveSSH(Destination{Scheme: "ssh", Host: "builder"}, "")
	must(t, err)
	if tgt.hostName != "192.0.2.7" || tgt.port != 2200 || tgt.user != "builder-user" {
		t.Errorf("alias not resolved: %+v", tgt)
	}
	if tgt.identities[0] != filepath.Join(home, ".ssh", "builder_key") {
		t.Errorf("IdentityFile not first: %v", tgt.identities)
	}
	if tgt.knownHosts[0] != filepath.Join(home, ".ssh", "farm_known_hosts") {
		t.Errorf("UserKnownHostsFile not honoured: %v", tgt.knownHosts)
	}
	if tgt.addr() != "192.0.2.7:2200" {
		t.Errorf("addr = %s", tgt.addr())
	}

	// The URI's own user, port and identity win over the config.
	tgt, err = resolveSSH(Destination{Scheme: "ssh", Host: "builder", User: "root", Port: 22}, "~/k")
	must(t, err)
	if tgt.user != "root" || tgt.port != 22 || tgt.identities[0] != filepath.Join(home, "k") || tgt.explicitIdentity != filepath.Join(home, "k") {
		t.Errorf("URI values must win: %+v", tgt)
	}

	// An unknown host gets defaults: port 22, the wildcard's user, ~/.ssh/known_hosts.
	tgt, err = resolveSSH(Destination{Scheme: "ssh", Host: "other"}, "")
	must(t, err)
	if tgt.hostName != "other" || tgt.port != 22 || tgt.user != "fallback" {
		t.Errorf("defaults: %+v", tgt)
	}
	if tgt.knownHosts[0] != filepath.Join(home, ".ssh", "known_hosts") {
		t.Errorf("default known_hosts: %v", tgt.knownHosts)
	}
	if !strings.HasSuffix(tgt.identities[0], "id_ed25519") {
		t.Errorf("default identities: %v", tgt.identities)
	}
}

func TestResolveSSHBadPort(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	must(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	must(t, os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host x\n  Port banana\n"), 0o600))
	if _, err := resolveSSH(Destination{Scheme: "ssh", Host: "x"}, ""); err == nil || !strings.Contains(err.Error(), "Port") {
		t.Errorf("bad port: %v", err)
	}
}

func TestTrustCommand(t *testing.T) {
	if got := trustCommand("[127.0.0.1]:42022 ssh-ed25519 AAAA", "/h/.ssh/known_hosts"); got != "mkdir -p -m 700 /h/.ssh && echo '[127.0.0.1]:42022 ssh-ed25519 AAAA' >> /h/.ssh/known_hosts" {
		t.Errorf("got %q", got)
	}
	if got := trustCommand("it's ssh-ed25519 AAAA", "/a b/k"); got != `mkdir -p -m 700 '/a b' && echo 'it'\''s ssh-ed25519 AAAA' >> '/a b/k'` {
		t.Errorf("got %q", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
