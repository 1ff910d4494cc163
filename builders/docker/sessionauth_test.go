package docker

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/moby/api/types/registry"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/farmbuild/farm/internal/enginetest"
)

// askAuth asks the auth service of session id for each host's credentials
// the way BuildKit's resolver does (util/resolver/authorizer.go): first a
// token authority, and without one the credentials. It notes the answers
// in s.answers ("user:secret", "" for none).
func (s *fakeSessions) askAuth(ctx context.Context, id string, hosts []string) error {
	g := session.NewGroup(id)
	for _, host := range hosts {
		if _, key, err := auth.GetTokenAuthority(ctx, host, s.sm, g); err != nil || key != nil {
			return fmt.Errorf("BuildKit must fall back to the credentials for %s: key %v, %v", host, key, err)
		}
		_, user, secret, err := auth.CredentialsFunc(s.sm, g)(host)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.answers == nil {
			s.answers = map[string]string{}
		}
		if user != "" || secret != "" {
			s.answers[host] = user + ":" + secret
		} else {
			s.answers[host] = ""
		}
		s.mu.Unlock()
	}
	return nil
}

// writeAuths writes an auth file of USER:PASSWORD by registry.
func writeAuths(t *testing.T, path string, auths map[string]string) {
	t.Helper()
	data := `{"auths":{`
	sep := ""
	for reg, userPass := range auths {
		data += sep + `"` + reg + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(userPass)) + `"}`
		sep = ","
	}
	if err := os.WriteFile(path, []byte(data+"}}"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSessionAuthGivesOnlyTheBuildsRegistries: through the session, as
// BuildKit asks, a registry of the node's auth file gets its login (Docker
// Hub's under BuildKit's host name for it), and any other host nothing:
// another port, the bare host, a mirror, a prefix, an empty host.
func TestSessionAuthGivesOnlyTheBuildsRegistries(t *testing.T) {
	f := &fakeDocker{askAuth: []string{"reg.example:5000", "reg.example", "reg.example:5001", "mirror.example",
		"reg.example:5000.evil.example", "registry-1.docker.io", "docker.io.evil.example", ""}}
	e := fakeEngine(t, f)
	req := enginetest.Request(t, map[string]string{"app.txt": "app"}, enginetest.AMD64, enginetest.ARM64)
	writeAuths(t, req.AuthFile, map[string]string{"reg.example:5000": "alice:pw1", "docker.io": "bob:pw2"})
	var logs logLines
	req.Log = logs.log
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"reg.example:5000": "alice:pw1", "registry-1.docker.io": "bob:pw2"}
	for _, host := range f.askAuth {
		got, asked := f.sessions.answers[host]
		if !asked || got != want[host] {
			t.Errorf("credentials for %q: %q (asked: %v), want %q", host, got, asked, want[host])
		}
	}
	for _, reg := range []string{"reg.example:5000", "docker.io"} {
		if n := logs.count("gave the node the credentials for " + reg + " "); n != 1 {
			t.Errorf("the node's build must say once that it got %s's login, not %d times: %q", reg, n, logs.lines)
		}
	}
	if n := logs.count("gave the node the credentials"); n != 2 {
		t.Errorf("only the two logins given may be named: %q", logs.lines)
	}
	if strings.Contains(f.registryConfig, "alice") || strings.Contains(f.registryConfig, "pw1") {
		t.Errorf("BuildKit ignores X-Registry-Config: the logins must not travel in it: %s", f.registryConfig)
	}
}

// TestSessionAuthWithoutCredentials: a build without credentials answers
// every host with nothing.
func TestSessionAuthWithoutCredentials(t *testing.T) {
	f := &fakeDocker{askAuth: []string{"reg.example:5000", "registry-1.docker.io"}}
	e := fakeEngine(t, f)
	req := enginetest.Request(t, nil, enginetest.AMD64)
	req.AuthFile = ""
	if _, err := e.Build(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	for _, host := range f.askAuth {
		if got, asked := f.sessions.answers[host]; !asked || got != "" {
			t.Errorf("credentials for %s: %q (asked: %v), want none", host, got, asked)
		}
	}
}

// TestSessionAuthFetchesNoTokens: the client never fetches a token for a
// node (the node would name the token server) nor signs for one.
func TestSessionAuthFetchesNoTokens(t *testing.T) {
	a := newRegistryAuth(map[string]registry.AuthConfig{"reg.example": {Username: "u", Password: "p"}}, nil)
	ctx := context.Background()
	_, err1 := a.FetchToken(ctx, &auth.FetchTokenRequest{Host: "reg.example", Realm: "https://evil.example/token"})
	_, err2 := a.GetTokenAuthority(ctx, &auth.GetTokenAuthorityRequest{Host: "reg.example"})
	_, err3 := a.VerifyTokenAuthority(ctx, &auth.VerifyTokenAuthorityRequest{Host: "reg.example"})
	for i, err := range []error{err1, err2, err3} {
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("token method %d: %v, want Unimplemented", i, err)
		}
	}
	if got, err := a.Credentials(ctx, &auth.CredentialsRequest{Host: "reg.example"}); err != nil || got.Username != "u" || got.Secret != "p" {
		t.Errorf("Credentials = %+v, %v", got, err)
	}
	if got, err := a.Credentials(ctx, &auth.CredentialsRequest{Host: "REG.example"}); err != nil || got.Username != "" || got.Secret != "" {
		t.Errorf("another host got %+v, %v", got, err)
	}
}
