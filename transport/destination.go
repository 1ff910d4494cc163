package transport

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/farmbuild/farm/errdefs"
)

// Destination is a parsed connection URI: ssh://[user@]host[:port][/socket]
// or unix:///path/to/socket.
type Destination struct {
	// Scheme is "ssh" or "unix".
	Scheme string
	// User is the SSH user; empty means the ssh config's User or the local user.
	User string
	// Host is the SSH host or ssh config alias.
	Host string
	// Port is the SSH port; 0 means the ssh config's Port or 22.
	Port int
	// Socket is the absolute path of the engine's API socket on the host;
	// empty for an ssh destination whose socket is still to be discovered.
	Socket string
}

// ParseDestination parses and checks a connection URI.
func ParseDestination(uri string) (Destination, error) {
	shown := uri
	if u, err := url.Parse(uri); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			shown = u.String()
		}
	}
	bad := func(why string) (Destination, error) {
		return Destination{}, fmt.Errorf("%w %q: %s; use ssh://[user@]host[:port][/socket-path] or unix:///path/to/socket", errdefs.ErrInvalidDestination, shown, why)
	}
	if strings.TrimSpace(uri) == "" {
		return bad("empty")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return bad("not a URI")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return bad("unexpected query, fragment or opaque part")
	}
	switch u.Scheme {
	case "unix":
		if u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || len(u.Path) < 2 {
			return bad("a unix socket needs an absolute path (three slashes)")
		}
		return Destination{Scheme: "unix", Socket: u.Path}, nil
	case "ssh":
	case "":
		return bad("missing scheme")
	default:
		return bad("unsupported scheme " + strconv.Quote(u.Scheme))
	}
	d := Destination{Scheme: "ssh", Host: u.Hostname()}
	if d.Host == "" {
		return bad("missing host")
	}
	if strings.HasPrefix(u.Host, "[") || strings.Contains(d.Host, ":") {
		if ip := net.ParseIP(d.Host); ip == nil || !strings.HasPrefix(u.Host, "[") {
			return bad("an IPv6 host must be written in brackets, e.g. ssh://user@[::1]:22")
		}
	} else if strings.IndexFunc(d.Host, func(r rune) bool {
		return !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		return bad("bad host name " + strconv.Quote(d.Host))
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return bad("passwords in URIs are not supported, use a key")
		}
		d.User = u.User.Username()
		if d.User == "" {
			return bad("empty user")
		}
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port must be 1-65535")
		}
		d.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	if u.Path != "" && u.Path != "/" {
		d.Socket = u.Path
	}
	return d, nil
}

// String renders the destination as a URI that ParseDestination accepts.
func (d Destination) String() string {
	if d.Scheme == "unix" {
		return "unix://" + d.Socket
	}
	u := url.URL{Scheme: "ssh", Host: d.Host, Path: d.Socket}
	if d.Port != 0 {
		u.Host = net.JoinHostPort(d.Host, strconv.Itoa(d.Port))
	} else if strings.Contains(d.Host, ":") {
		u.Host = "[" + d.Host + "]"
	}
	if d.User != "" {
		u.User = url.User(d.User)
	}
	return u.String()
}

// Redact returns uri with any password in it replaced by "xxxxx", for
// display: podman's files may hold ssh://user:password@host URIs.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	if _, ok := u.User.Password(); !ok {
		return uri
	}
	return u.Redacted()
}
