package farm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmbuild/farm/errdefs"
)

// --creds is the credential of the FROM registries; a registry pushed to
// keeps the client's own; nothing else is in the file.
func TestCredsAuthFile(t *testing.T) {
	t.Setenv("REGISTRY_AUTH_FILE", "")
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth.json")
	must(t, os.WriteFile(auth, []byte(`{"auths":{
		"push.example":{"auth":"bWU6cHVzaA=="},
		"other.example":{"auth":"c2VjcmV0OnNlY3JldA=="}}}`), 0o600))
	ctx := t.TempDir()
	must(t, os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte("FROM base.example/a:1 AS a\nFROM $REG/b:1\nFROM a\n"), 0o644))
	opts := BuildOptions{ContextDir: ctx, AuthFile: auth, Output: Push{}, Tags: []string{"push.example/app:1"}}
	opts.BuildArgs = map[string]string{"REG": "arg.example"}
	path, err := CredsAuthFile(dir, "u:p", opts)
	must(t, err)
	data, err := os.ReadFile(path)
	must(t, err)
	var f struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	must(t, json.Unmarshal(data, &f))
	if len(f.Auths) != 3 || f.Auths["base.example"].Auth != "dTpw" || f.Auths["arg.example"].Auth != "dTpw" || f.Auths["push.example"].Auth != "bWU6cHVzaA==" {
		t.Errorf("auth file = %s", data)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the file holds a password: %v %v", st.Mode(), err)
	}
	for name, tc := range map[string]struct {
		creds, from string
		tags        []string
		want        string
	}{
		"no password":   {"u", "FROM base.example/a\n", nil, "use USER:PASSWORD"},
		"short names":   {"u:p", "FROM alpine\n", nil, "name no registry"},
		"push and FROM": {"u:p", "FROM push.example/base\n", []string{"push.example/app:1"}, "run podman login push.example instead of --creds"},
	} {
		must(t, os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(tc.from), 0o644))
		o := opts
		o.BuildArgs = nil
		if tc.tags != nil {
			o.Tags = tc.tags
		}
		if _, err := CredsAuthFile(dir, tc.creds, o); !errors.Is(err, errdefs.ErrUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a usage error with %q", name, err, tc.want)
		}
	}
}
