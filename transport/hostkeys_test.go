package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/farmbuild/farm/errdefs"
)

func newKey(t *testing.T) (ssh.PublicKey, ssh.Signer) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key, signer
}

// checkAgainst checks key for [127.0.0.1]:2222 against a known_hosts file
// made of lines.
func checkAgainst(t *testing.T, key ssh.PublicKey, lines ...string) error {
	t.Helper()
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := strictHostKeys(sshTarget{hostName: "127.0.0.1", port: 2222, knownHosts: []string{file}})
	if err != nil {
		return err
	}
	return h.check("127.0.0.1:2222", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}, key)
}

func line(host string, key ssh.PublicKey) string {
	return host + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

func TestHostKeys(t *testing.T) {
	key, _ := newKey(t)
	other, _ := newKey(t)
	host := "[127.0.0.1]:2222"

	if err := checkAgainst(t, key, line(host, key)); err != nil {
		t.Errorf("plain entry: %v", err)
	}
	if err := checkAgainst(t, key, line(knownhosts.HashHostname(host), key)); err != nil {
		t.Errorf("hashed entry: %v", err)
	}

	var hk *errdefs.HostKeyError
	err := checkAgainst(t, key, line("[elsewhere]:22", other))
	if !errors.As(err, &hk) || hk.Changed || hk.KnownHostsLine != line(host, key) {
		t.Errorf("unknown host: %v", err)
	}
	err = checkAgainst(t, key, line(host, other))
	if !errors.As(err, &hk) || !hk.Changed || hk.Line != "line 1" || !errors.Is(err, errdefs.ErrHostKey) {
		t.Errorf("changed key: %v", err)
	}
	err = checkAgainst(t, key, line(host, key), "@revoked "+line("*", key))
	if !errors.Is(err, errdefs.ErrHostKey) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked key: %v", err)
	}
}

func TestHostKeysSkipALineThatCannotBeParsed(t *testing.T) {
	key, _ := newKey(t)
	// OpenSSH skips a line it cannot read; one bad entry for another host
	// must not make every node unreachable.
	err := checkAgainst(t, key, "somehost ssh-ed25519 not-base64!!", line("[127.0.0.1]:2222", key))
	if err != nil {
		t.Errorf("a bad line for another host: %v", err)
	}
	other, _ := newKey(t)
	var hk *errdefs.HostKeyError
	err = checkAgainst(t, key, "garbage", line("[127.0.0.1]:2222", other))
	if !errors.As(err, &hk) || !hk.Changed || hk.Line != "line 2" || !strings.HasSuffix(hk.KnownHosts, "known_hosts") {
		t.Errorf("a changed key is still reported with its own file and line: %+v, %v", hk, err)
	}
}

func TestHostKeysCertAuthority(t *testing.T) {
	ca, caSigner := newKey(t)
	hostKey, _ := newKey(t)
	cert := &ssh.Certificate{Key: hostKey, CertType: ssh.HostCert, ValidPrincipals: []string{"127.0.0.1"},
		ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, caSigner); err != nil {
		t.Fatal(err)
	}
	caLine := "@cert-authority " + line("[127.0.0.1]:2222", ca)
	if err := checkAgainst(t, cert, caLine); err != nil {
		t.Errorf("a host certificate signed by a known authority: %v", err)
	}
	// A plain key where only an authority is known is unknown, not changed.
	var hk *errdefs.HostKeyError
	if err := checkAgainst(t, hostKey, caLine); !errors.As(err, &hk) || hk.Changed {
		t.Errorf("a plain key with only an authority known: %v", err)
	}
}

// TestUnknownHostHintGivesTheKnownHostsLine checks that an unknown host's
// error carries the known_hosts line of the key that was seen (not a
// command that fetches the key again), its fingerprint, and a command that
// really adds it.
func TestUnknownHostHintGivesTheKnownHostsLine(t *testing.T) {
	key, _ := newKey(t)
	b64 := strings.Fields(string(ssh.MarshalAuthorizedKey(key)))[1]
	for _, tc := range []struct {
		host string
		port int
		want string
	}{
		{"127.0.0.1", 2222, "[127.0.0.1]:2222 ssh-ed25519 " + b64},
		{"node.example", 22, "node.example ssh-ed25519 " + b64},
		{"::1", 2200, "[::1]:2200 ssh-ed25519 " + b64},
	} {
		dir := filepath.Join(t.TempDir(), "my ssh")
		file := filepath.Join(dir, "known_hosts")
		target := sshTarget{hostName: tc.host, port: tc.port, knownHosts: []string{file}}
		h, err := strictHostKeys(target)
		if err != nil {
			t.Fatal(err)
		}
		err = h.check(target.addr(), &net.TCPAddr{}, key)
		var hk *errdefs.HostKeyError
		if !errors.As(err, &hk) || hk.Changed {
			t.Fatalf("%s: want an unknown-host error, got %v", tc.want, err)
		}
		msg := err.Error()
		wantCmd := "mkdir -p -m 700 '" + dir + "' && echo '" + tc.want + "' >> '" + file + "'"
		if hk.KnownHostsLine != tc.want || !strings.Contains(msg, wantCmd) ||
			!strings.Contains(msg, ssh.FingerprintSHA256(key)) || strings.Contains(msg, "ssh-keyscan") ||
			!strings.Contains(msg, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub") {
			t.Errorf("hint must give the line %q, the fingerprint and %q:\n%s", tc.want, wantCmd, msg)
		}
		if out, err := exec.Command("/bin/sh", "-c", hk.TrustCommand).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", hk.TrustCommand, err, out)
		}
		if h, err = strictHostKeys(target); err != nil {
			t.Fatal(err)
		}
		if err := h.check(target.addr(), &net.TCPAddr{}, key); err != nil {
			t.Errorf("after running the trust command: %v", err)
		}
	}
}
