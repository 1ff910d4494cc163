package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/farmbuild/farm/errdefs"
)

// dialSSH opens an SSH connection with strict host-key checking: a host not
// in known_hosts, or one whose key changed, is refused with a HostKeyError.
// known_hosts is never written.
func dialSSH(ctx context.Context, t sshTarget) (*ssh.Client, string, error) {
	hostKeys, err := strictHostKeys(t)
	if err != nil {
		return nil, "", err
	}
	// Dial before looking for keys, so an unreachable host says so.
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", t.addr())
	if err != nil {
		return nil, "", fmt.Errorf("connecting to %s: %w", t.addr(), err)
	}
	auth, closeAgent, err := authMethods(t)
	if err != nil {
		raw.Close()
		return nil, "", err
	}
	defer closeAgent()
	var hostKey string
	cfg := &ssh.ClientConfig{
		User: t.user,
		Auth: auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := hostKeys.check(hostname, remote, key)
			if err == nil {
				if cert, ok := key.(*ssh.Certificate); ok {
					key = cert.Key
				}
				hostKey = ssh.FingerprintSHA256(key)
			}
			return err
		},
		HostKeyAlgorithms: hostKeys.algorithms(t.addr()),
	}
	// Bound the handshake by the context: closing the socket aborts it.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	conn, chans, reqs, err := ssh.NewClientConn(raw, t.addr(), cfg)
	if !stop() {
		if err == nil {
			conn.Close()
		}
		return nil, "", fmt.Errorf("ssh handshake with %s: %w", t.addr(), ctx.Err())
	}
	if err != nil {
		raw.Close()
		var hk *errdefs.HostKeyError
		if errors.As(err, &hk) {
			return nil, "", hk
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, "", fmt.Errorf("ssh to %s@%s: key authentication failed (tried %s and ssh-agent): pass the right key with --identity", t.user, t.addr(), strings.Join(existing(t.identities), ", "))
		}
		return nil, "", fmt.Errorf("ssh handshake with %s: %w", t.addr(), err)
	}
	return ssh.NewClient(conn, chans, reqs), hostKey, nil
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
