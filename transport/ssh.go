package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/farmbuild/farm/errdefs"
)

// dialSSH opens an SSH connection with strict host-key checking: a host not
// in known_hosts, or one whose key changed, is refused with a HostKeyError.
// known_hosts is never written.
func dialSSH(ctx context.Context, t sshTarget) (*ssh.Client, error) {
	hostKeys, err := strictHostKeys(t)
	if err != nil {
		return nil, err
	}
	// Dial before looking for keys, so an unreachable host says so.
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.addr())
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", t.addr(), err)
	}
	auth, closeAgent, err := authMethods(t)
	if err != nil {
		raw.Close()
		return nil, err
	}
	defer closeAgent()
	cfg := &ssh.ClientConfig{
		User:              t.user,
		Auth:              auth,
		HostKeyCallback:   hostKeys.check,
		HostKeyAlgorithms: hostKeys.algorithms(t.addr()),
	}
	// Bound the handshake by the context: closing the socket aborts it.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	conn, chans, reqs, err := ssh.NewClientConn(raw, t.addr(), cfg)
	if !stop() {
		if err == nil {
			conn.Close()
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", t.addr(), ctx.Err())
	}
	if err != nil {
		raw.Close()
		var hk *errdefs.HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh to %s@%s: key authentication failed (tried %s and ssh-agent): pass the right key with --identity", t.user, t.addr(), strings.Join(existing(t.identities), ", "))
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", t.addr(), err)
	}
	return ssh.NewClient(conn, chans, reqs), nil
}

// hostKeyChecker wraps knownhosts with errors that say what to do.
type hostKeyChecker struct {
	target sshTarget
	files  []string
	cb     ssh.HostKeyCallback // nil when no known_hosts file exists
}

func strictHostKeys(t sshTarget) (*hostKeyChecker, error) {
	h := &hostKeyChecker{target: t}
	for _, f := range t.knownHosts {
		if _, err := os.Stat(f); err == nil {
			h.files = append(h.files, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
	}
	if len(h.files) > 0 {
		cb, err := knownhosts.New(h.files...)
		if err != nil {
			return nil, fmt.Errorf("reading known_hosts: %w: fix the file", err)
		}
		h.cb = cb
	}
	return h, nil
}

// knownKeys returns the keys known_hosts holds for addr, by asking the
// callback about a key that cannot be there.
func (h *hostKeyChecker) knownKeys(addr string) []knownhosts.KnownKey {
	if h.cb == nil {
		return nil
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if err := h.cb(addr, &net.TCPAddr{}, probe); errors.As(err, &ke) {
		return ke.Want
	}
	return nil
}

// algorithms restricts negotiation to the key types known for addr, so a
// server offering another type first is not mistaken for a changed key.
func (h *hostKeyChecker) algorithms(addr string) []string {
	var algos []string
	for _, k := range h.knownKeys(addr) {
		switch typ := k.Key.Type(); typ {
		case ssh.KeyAlgoRSA:
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			algos = append(algos, typ)
		}
	}
	return dedupe(algos)
}

func (h *hostKeyChecker) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	var err error
	if h.cb == nil {
		err = &knownhosts.KeyError{}
	} else {
		err = h.cb(hostname, remote, key)
	}
	if err == nil {
		return nil
	}
	host := knownhosts.Normalize(hostname)
	file := h.target.knownHosts[0]
	e := &errdefs.HostKeyError{
		Host:         host,
		Fingerprint:  ssh.FingerprintSHA256(key),
		KeyType:      key.Type(),
		KnownHosts:   file,
		TrustCommand: trustCommand(h.target.hostName, h.target.port, key.Type(), file),
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("host key of %s is revoked in %s:%d: %w", host, re.Revoked.Filename, re.Revoked.Line, errdefs.ErrHostKey)
	case errors.As(err, &ke) && len(ke.Want) > 0:
		e.Changed = true
		e.KnownHosts = ke.Want[0].Filename
		e.Line = fmt.Sprintf("line %d", ke.Want[0].Line)
		return e
	case errors.As(err, &ke):
		return e
	default:
		return fmt.Errorf("checking host key of %s: %w", host, err)
	}
}

// trustCommand is the shell command that would add host's key of the
// given type to file.
func trustCommand(hostName string, port int, keyType, file string) string {
	t := map[string]string{ssh.KeyAlgoED25519: "ed25519", ssh.KeyAlgoRSA: "rsa"}[keyType]
	if strings.HasPrefix(keyType, "ecdsa-") {
		t = "ecdsa"
	}
	cmd := "ssh-keyscan"
	if port != 22 {
		cmd += fmt.Sprintf(" -p %d", port)
	}
	if t != "" {
		cmd += " -t " + t
	}
	return fmt.Sprintf("%s %s >> %s", cmd, hostName, file)
}

// authMethods gathers public-key signers from the identity files and the
// ssh-agent. The returned func closes the agent connection.
func authMethods(t sshTarget) ([]ssh.AuthMethod, func(), error) {
	var signers []ssh.Signer
	agentSigners, closeAgent := agentSigners()
	for _, f := range t.identities {
		data, err := os.ReadFile(f)
		if err != nil {
			if f == t.explicitIdentity {
				closeAgent()
				return nil, nil, fmt.Errorf("identity file %s: %w: pass an existing key with --identity", f, errors.Unwrap(err))
			}
			continue
		}
		s, err := ssh.ParsePrivateKey(data)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			if f == t.explicitIdentity && len(agentSigners) == 0 {
				closeAgent()
				return nil, nil, fmt.Errorf("identity file %s is protected by a passphrase: load it into ssh-agent with: ssh-add %s", f, f)
			}
			continue
		case err != nil:
			if f == t.explicitIdentity {
				closeAgent()
				return nil, nil, fmt.Errorf("identity file %s is not a private key: %w", f, err)
			}
			continue
		}
		signers = append(signers, s)
	}
	signers = append(signers, agentSigners...)
	if len(signers) == 0 {
		closeAgent()
		return nil, nil, fmt.Errorf("no SSH key for %s@%s: pass one with --identity or load one into ssh-agent", t.user, t.addr())
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, closeAgent, nil
}

// agentSigners returns the ssh-agent's keys when SSH_AUTH_SOCK is usable.
func agentSigners() ([]ssh.Signer, func()) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, func() {}
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, func() {}
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, func() {}
	}
	return signers, func() { conn.Close() }
}

func existing(files []string) []string {
	var out []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return []string{"no key files"}
	}
	return out
}
