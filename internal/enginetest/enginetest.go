// Package enginetest helps test engine drivers against fake engine APIs:
// a link that serves a handler as the node's engine socket, build
// requests, and container log frames.
package enginetest

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
)

// Platforms the tests build.
var (
	AMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	ARM64 = ocispec.Platform{OS: "linux", Architecture: "arm64"}
)

// Link is an engine.Link whose engine is handler, reached by DialEngine
// (over TCP) or by Forward (on a unix socket in the given directory).
type Link struct {
	name string
	srv  *httptest.Server
	h    http.Handler
}

var _ engine.Link = (*Link)(nil)

// NewLink serves handler as node name's engine until the test ends.
func NewLink(t *testing.T, name string, handler http.Handler) *Link {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &Link{name: name, srv: srv, h: handler}
}

// Node is the node's name.
func (l *Link) Node() string { return l.name }

// Socket is a socket path, for messages.
func (l *Link) Socket() string { return "/run/" + l.name + ".sock" }

// DialEngine connects to the handler.
func (l *Link) DialEngine(ctx context.Context) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", l.srv.Listener.Addr().String())
}

// Forward serves the handler on a unix socket in dir.
func (l *Link) Forward(_ context.Context, dir string) (string, func(), error) {
	path := filepath.Join(dir, "engine.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		return "", nil, err
	}
	go func() { _ = http.Serve(ln, l.h) }()
	return path, func() { ln.Close() }, nil
}

// Run has no shell to run in.
func (l *Link) Run(context.Context, string) ([]byte, error) { return nil, errors.New("no shell") }

// Sent is always zero.
func (l *Link) Sent() int64 { return 0 }

// Request is a build of platforms from a context holding files (a
// Containerfile copying the context when files names none) and an empty
// auth file.
func Request(t *testing.T, files map[string]string, platforms ...ocispec.Platform) engine.NodeBuild {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["Containerfile"]; !ok {
		files = mapWith(files, "Containerfile", "FROM scratch\nCOPY . /\n")
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	auth := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(auth, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return engine.NodeBuild{ContextDir: dir, Containerfile: filepath.Join(dir, "Containerfile"), Platforms: platforms, AuthFile: auth}
}

func mapWith(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		out[key] = val
	}
	return out
}

// LogFrames encodes lines as a container log stream of stdout frames, as
// podman and docker send it.
func LogFrames(lines ...string) []byte {
	var out []byte
	for _, l := range lines {
		hdr := make([]byte, 8)
		hdr[0] = 1
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(l)))
		out = append(append(out, hdr...), l...)
	}
	return out
}
