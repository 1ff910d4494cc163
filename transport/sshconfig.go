package transport

import (
	"bytes"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// sshTarget is everything needed to open one SSH connection, after the
// destination has been combined with ~/.ssh/config.
type sshTarget struct {
	// hostName is the host to dial (ssh config HostName, else the URI host).
	hostName string
	port     int
	user     string
	// identities are private key files to try, the connection's own first.
	identities []string
	// explicitIdentity is the identity the connection names, if any: its
	// absence or a missing passphrase is an error rather than a skip.
	explicitIdentity string
	// knownHosts are the files consulted for host keys; the first is the one
	// a trust command writes to.
	knownHosts []string
}

// addr is host:port for dialing.
func (t sshTarget) addr() string {
	return joinHostPort(t.hostName, t.port)
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// homeDir is the user's home, honouring $HOME as OpenSSH does.
func homeDir() (string, error) {
	if h := os.Getenv("HOME"); h != "" {
		return h, nil
	}
	return os.UserHomeDir()
}

// expandTilde expands a leading ~/ to the home directory.
func expandTilde(path, home string) string {
	if path == "~" {
		return home
	}
	if strings.HasPrefix(path, "~/") {
		return filepath.Join(home, path[2:])
	}
	return path
}

// sshConfigs holds the parsed user and system ssh configuration files.
type sshConfigs struct {
	files []*ssh_config.Config
	names []string
}

// loadSSHConfigs reads ~/.ssh/config and /etc/ssh/ssh_config when present.
func loadSSHConfigs(home string) (*sshConfigs, error) {
	c := &sshConfigs{}
	for _, path := range []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"} {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		cfg, err := ssh_config.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w: fix the file or move it aside", path, err)
		}
		c.files = append(c.files, cfg)
		c.names = append(c.names, path)
	}
	return c, nil
}

// get returns the first value for key in the user file, then the system file.
func (c *sshConfigs) get(alias, key string) string {
	for _, f := range c.files {
		if v, err := f.Get(alias, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

// getAll returns every value for key, user file first.
func (c *sshConfigs) getAll(alias, key string) []string {
	var out []string
	for _, f := range c.files {
		if vs, err := f.GetAll(alias, key); err == nil {
			out = append(out, vs...)
		}
	}
	return out
}

// resolveSSH combines a destination and an identity file with the user's
// ssh configuration (Host aliases, HostName, Port, User, IdentityFile,
// UserKnownHostsFile).
func resolveSSH(d Destination, identity string) (sshTarget, error) {
	home, err := homeDir()
	if err != nil {
		return sshTarget{}, fmt.Errorf("finding home directory: %w", err)
	}
	cfgs, err := loadSSHConfigs(home)
	if err != nil {
		return sshTarget{}, err
	}
	t := sshTarget{hostName: d.Host, port: d.Port, user: d.User}
	if hn := cfgs.get(d.Host, "HostName"); hn != "" {
		t.hostName = strings.ReplaceAll(hn, "%h", d.Host)
	}
	if t.port == 0 {
		if p := cfgs.get(d.Host, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return sshTarget{}, fmt.Errorf("ssh config: bad Port %q for host %s", p, d.Host)
			}
			t.port = n
		} else {
			t.port = 22
		}
	}
	if t.user == "" {
		t.user = cfgs.get(d.Host, "User")
	}
	if t.user == "" {
		if u, err := user.Current(); err == nil {
			t.user = u.Username
		} else {
			t.user = os.Getenv("USER")
		}
	}
	if identity != "" {
		t.explicitIdentity = expandTilde(identity, home)
		t.identities = append(t.identities, t.explicitIdentity)
	}
	configured := cfgs.getAll(d.Host, "IdentityFile")
	// ssh_config reports OpenSSH's default when nothing is configured; treat
	// the defaults uniformly below.
	for _, f := range configured {
		f = expandTilde(f, home)
		if f != filepath.Join(home, ".ssh", "identity") {
			t.identities = append(t.identities, f)
		}
	}
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		t.identities = append(t.identities, filepath.Join(home, ".ssh", name))
	}
	t.identities = dedupe(t.identities)
	for _, v := range cfgs.getAll(d.Host, "UserKnownHostsFile") {
		for _, f := range strings.Fields(v) {
			t.knownHosts = append(t.knownHosts, expandTilde(f, home))
		}
	}
	if len(t.knownHosts) == 0 {
		t.knownHosts = []string{filepath.Join(home, ".ssh", "known_hosts"), filepath.Join(home, ".ssh", "known_hosts2")}
	}
	t.knownHosts = append(t.knownHosts, "/etc/ssh/ssh_known_hosts")
	t.knownHosts = dedupe(t.knownHosts)
	return t, nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
