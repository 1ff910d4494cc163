package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/farmbuild/farm/errdefs"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyChecker wraps knownhosts with errors that say what to do.
type hostKeyChecker struct {
	target sshTarget
	files  []string
	cb     ssh.HostKeyCallback // nil when no known_hosts file exists
	// names maps the private copies read in place of files with lines
	// knownhosts cannot parse back to the user's files.
	names map[string]string
	// authorities are the keys of @cert-authority lines (marshalled): a
	// host whose key is not signed by one is unknown, not changed.
	authorities map[string]bool
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
		cb, err := h.readKnownHosts()
		if err != nil {
			return nil, fmt.Errorf("reading known_hosts: %w: fix the file", err)
		}
		h.cb = cb
	}
	return h, nil
}

// badLine is where knownhosts reports a line it cannot parse.
var badLine = regexp.MustCompile(`^knownhosts: (.+):(\d+): `)

// readKnownHosts reads the known_hosts files. Like OpenSSH it skips a line
// it cannot parse (one bad entry for another host must not make every
// node unreachable): such a file is read from a private copy in which
// that line is blanked, so line numbers stay the user's.
func (h *hostKeyChecker) readKnownHosts() (ssh.HostKeyCallback, error) {
	files := append([]string(nil), h.files...)
	var tmp string
	defer func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}()
	for range 1000 {
		cb, err := knownhosts.New(files...)
		m := badLine.FindStringSubmatch(fmt.Sprint(err))
		if err == nil {
			h.authorities = certAuthorities(files)
		}
		if err == nil || m == nil {
			return cb, err
		}
		i := slices.Index(files, m[1])
		n, _ := strconv.Atoi(m[2])
		if i < 0 {
			return nil, err
		}
		data, rerr := os.ReadFile(files[i])
		if rerr != nil {
			return nil, rerr
		}
		lines := strings.Split(string(data), "\n")
		if n < 1 || n > len(lines) || lines[n-1] == "#" {
			return nil, err
		}
		lines[n-1] = "#"
		if tmp == "" {
			if tmp, rerr = os.MkdirTemp("", "farm-known-hosts-"); rerr != nil {
				return nil, rerr
			}
			h.names = map[string]string{}
		}
		copyPath := files[i]
		if _, ours := h.names[copyPath]; !ours {
			copyPath = filepath.Join(tmp, strconv.Itoa(i))
			h.names[copyPath] = files[i]
		}
		if werr := os.WriteFile(copyPath, []byte(strings.Join(lines, "\n")), 0o600); werr != nil {
			return nil, werr
		}
		files[i] = copyPath
	}
	return nil, errors.New("too many lines that cannot be parsed")
}

// certAuthorities returns the keys of the @cert-authority lines of the
// (parseable) known_hosts files.
func certAuthorities(files []string) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			marker, _, key, _, _, err := ssh.ParseKnownHosts([]byte(l))
			if err == nil && marker == "cert-authority" {
				out[string(key.Marshal())] = true
			}
		}
	}
	return out
}

// userFile names a file read for known hosts as the user knows it.
func (h *hostKeyChecker) userFile(name string) string {
	if orig, ok := h.names[name]; ok {
		return orig
	}
	return name
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
	// A host certificate no known authority signed is trusted, as OpenSSH
	// falls back to, by its plain key.
	plain := key
	if cert, ok := key.(*ssh.Certificate); ok {
		plain = cert.Key
	}
	line := knownhosts.Line([]string{hostname}, plain)
	e := &errdefs.HostKeyError{
		Host:           host,
		Fingerprint:    ssh.FingerprintSHA256(plain),
		KeyType:        plain.Type(),
		KnownHosts:     file,
		KnownHostsLine: line,
		TrustCommand:   trustCommand(line, file),
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	if errors.As(err, &ke) {
		// An authority's key is not the host's: only a host key can change.
		ke.Want = slices.DeleteFunc(slices.Clone(ke.Want), func(k knownhosts.KnownKey) bool { return h.authorities[string(k.Key.Marshal())] })
	}
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("host key of %s is revoked in %s:%d: %w", host, h.userFile(re.Revoked.Filename), re.Revoked.Line, errdefs.ErrHostKey)
	case errors.As(err, &ke) && len(ke.Want) > 0:
		e.Changed = true
		e.KnownHosts = h.userFile(ke.Want[0].Filename)
		e.Line = fmt.Sprintf("line %d", ke.Want[0].Line)
		return e
	case errors.As(err, &ke):
		return e
	default:
		return fmt.Errorf("checking host key of %s: %w", host, err)
	}
}

// trustCommand is the shell command that appends the known_hosts line to
// file, creating its directory as OpenSSH would. It parses the same in sh,
// bash, zsh, fish and csh.
func trustCommand(line, file string) string {
	return fmt.Sprintf("mkdir -p -m 700 %s && echo %s >> %s",
		shellWord(filepath.Dir(file)), ShellQuote(line), shellWord(file))
}

// ShellQuote quotes s as one word for a POSIX shell.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellWord is s as one shell word: as it is when it holds only characters
// no shell treats specially, else quoted.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@") == "" {
		return s
	}
	return ShellQuote(s)
}
