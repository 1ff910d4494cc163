package farm

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
)

// fakeRegistry answers /v2/ like distribution with htpasswd auth: 401
// unless the request carries user:pass.
func fakeRegistry(t *testing.T, user, pass string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); user == "" || ok && u == user && p == pass {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func authFileOf(t *testing.T, registry, user, pass string) string {
	t.Helper()
	path, err := writeAuthFile(t.TempDir(), "auth-*.json", map[string]string{registry: user + ":" + pass})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func tokenAuthFile(t *testing.T, registry string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.json")
	data := `{"auths":{"` + registry + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("<token>:")) + `","identitytoken":"tok"}}}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPreflight(t *testing.T) {
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	no := false
	open := fakeRegistry(t, "", "")
	locked := fakeRegistry(t, "farm", "right")
	for _, tc := range []struct {
		name string
		opts BuildOptions
		want string // "" for no error
	}{
		{"local tag", BuildOptions{Tags: []string{"app:1.2"}}, ""},
		{"bad tag", BuildOptions{Tags: []string{"UPPER:bad tag"}}, `tag "UPPER:bad tag"`},
		{"push short name", BuildOptions{Output: Push{}, Tags: []string{"app:1"}}, "names no registry"},
		{"push open registry", BuildOptions{Output: Push{}, Tags: []string{open + "/app:1"}, Instructions: engine.Instructions{TLSVerify: &no}}, ""},
		{"plain HTTP with TLS", BuildOptions{Output: Push{}, Tags: []string{open + "/app:1"}}, "speaks plain HTTP: add --tls-verify=false"},
		{"no login", BuildOptions{Output: Push{}, Tags: []string{locked + "/app:1"}, Instructions: engine.Instructions{TLSVerify: &no}}, "needs a login: run podman login " + locked},
		{"wrong login", BuildOptions{Output: Push{}, Tags: []string{locked + "/app:1"}, Instructions: engine.Instructions{TLSVerify: &no},
			AuthFile: authFileOf(t, locked, "farm", "wrong")}, "refused the credentials of farm"},
		{"identity token", BuildOptions{Output: Push{}, Tags: []string{locked + "/app:1"}, Instructions: engine.Instructions{TLSVerify: &no},
			AuthFile: tokenAuthFile(t, locked)}, "identity token"},
		{"right login", BuildOptions{Output: Push{}, Tags: []string{locked + "/app:1"}, Instructions: engine.Instructions{TLSVerify: &no},
			AuthFile: authFileOf(t, locked, "farm", "right")}, ""},
		{"unreachable: the push decides", BuildOptions{Output: Push{}, Tags: []string{"127.0.0.1:1/app:1"}, Instructions: engine.Instructions{TLSVerify: &no}}, ""},
	} {
		err := Preflight(context.Background(), tc.opts)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrUsage)):
			t.Errorf("%s: %v, want a usage error with %q", tc.name, err, tc.want)
		}
	}
}

func TestEngineErrorsAreNotTransportErrors(t *testing.T) {
	refused := errors.New("pinging container registry 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused")
	if !transportError(refused) {
		t.Fatal("a bare connection refused is a transport error")
	}
	if transportError(&errdefs.EngineError{Err: refused}) || transportError(&errdefs.BuildError{Platform: "linux/amd64", Node: "n", Err: &errdefs.EngineError{Err: refused}}) {
		t.Error("what the engine reported is a build error, whatever it says")
	}
}
