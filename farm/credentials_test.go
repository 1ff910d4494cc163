package farm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAuthSubset(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth.json")
	must(t, os.WriteFile(auth, []byte(`{"auths":{
		"registry.example:5000":{"auth":"dXNlcjpwYXNz"},
		"other.example":{"auth":"c2VjcmV0OnNlY3JldA=="}}}`), 0o600))
	path, err := WriteAuthSubset(dir, auth, []string{"registry.example:5000", "quay.io"})
	must(t, err)
	data, err := os.ReadFile(path)
	must(t, err)
	var f struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	must(t, json.Unmarshal(data, &f))
	if len(f.Auths) != 1 || f.Auths["registry.example:5000"].Auth != "dXNlcjpwYXNz" {
		t.Errorf("subset = %s", data)
	}
	if strings.Contains(string(data), "c2VjcmV0") {
		t.Errorf("credentials of an unneeded registry leaked: %s", data)
	}
	c, err := Credentials(auth, "other.example")
	must(t, err)
	if c.Username != "secret" || c.Password != "secret" {
		t.Errorf("Credentials = %+v", c)
	}
}

func TestTransportErrorIgnoresFailedSteps(t *testing.T) {
	for msg, want := range map[string]bool{
		"server probably quit: unexpected EOF":                                   true,
		"ssh: rejected: connect failed":                                          true,
		`executor failed running [/bin/sh -c cat <<EOF]: exit code: 1`:           false,
		`building at STEP "RUN ssh: oops": while running runtime: exit status 1`: false,
		`The command '/bin/sh -c curl x' returned a non-zero code: 7 (EOF)`:      false,
	} {
		if got := transportError(errors.New(msg)); got != want {
			t.Errorf("transportError(%q) = %v, want %v", msg, got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
