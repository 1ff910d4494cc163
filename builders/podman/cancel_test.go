package podman

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Only the containers whose buildah.json holds the build call's marker
// are the call's: a teammate's build on the node is not.
func TestOwnContainersScriptFindsOnlyMarkedContainers(t *testing.T) {
	dir := t.TempDir()
	const ours, theirs, odd = "aaaa1111", "bbbb2222", "../etc"
	for id, hosts := range map[string]string{ours: `"AddHost":["farm-n1.invalid:127.0.0.1"]`, theirs: `"AddHost":["db:10.0.0.1"]`} {
		must := filepath.Join(dir, id, "userdata")
		if err := os.MkdirAll(must, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(must, "buildah.json"), []byte(`{"CommonBuildOpts":{`+hosts+`}}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("/bin/sh", "-c", ownContainersScript, "sh", "farm-n1.invalid", dir, ours, theirs, odd, "cccc3333").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); len(got) != 1 || got[0] != ours {
		t.Errorf("the call's containers = %v, want only %s", got, ours)
	}
}
