package farm

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/farmbuild/farm/engine"
)

// pushRecorder is a fake engine that remembers what each push was given.
type pushRecorder struct {
	fakeBuilder
	got map[string]engine.PushOptions
}

func (p *pushRecorder) Push(_ context.Context, _, ref string, o engine.PushOptions) error {
	p.got[ref] = o
	return nil
}

// A pushing node gets the credentials of the one registry it pushes to.
func TestPushGivesANodeOnlyItsRegistrysCredentials(t *testing.T) {
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	auth := filepath.Join(t.TempDir(), "auth.json")
	must(t, os.WriteFile(auth, []byte(`{"auths":{"a.example":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice:pa"))+
		`"},"b.example":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("bob:pb"))+`"}}}`), 0o600))
	rec := &pushRecorder{fakeBuilder: fakeBuilder{name: "n"}, got: map[string]engine.PushOptions{}}
	n := &Node{Name: "n", Builder: rec}
	img := imageOf(n, engine.PlatformImage{Platform: amd64, ImageID: "sha256:x"}, BuildOptions{AuthFile: auth}, &emitter{})
	must(t, img.Push(context.Background(), "a.example/app:1"))
	must(t, img.Push(context.Background(), "c.example/app:1"))
	if o := rec.got["a.example/app:1"]; o.Username != "alice" || o.Password != "pa" {
		t.Errorf("push to a.example got %+v", o)
	}
	if o := rec.got["c.example/app:1"]; o.Username != "" || o.Password != "" {
		t.Errorf("a registry the client has no login for gets none: %+v", o)
	}
}
