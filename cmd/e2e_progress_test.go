//go:build e2e

package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/farmbuild/farm/farm"
)

func TestE2EProgressJSON(t *testing.T) {
	buildFarmHome(t)
	dest := filepath.Join(t.TempDir(), "layout")
	out, errOut, err := farmCLI(t, "build", "--progress", "json", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest="+dest, "-t", "x:1", writeContext(t, archContainerfile))
	if err != nil {
		t.Fatalf("build: %v\n%s", err, errOut)
	}
	phases := map[string]int{}
	var last farm.Event
	for sc := bufio.NewScanner(strings.NewReader(out)); sc.Scan(); {
		var e farm.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("standard output must be JSON events only, got %q", sc.Text())
		}
		phases[e.Type+":"+e.Phase]++
		last = e
	}
	for _, want := range []string{"phase:queued", "phase:building", "log:", "phase:done", "phase:storing"} {
		if phases[want] == 0 {
			t.Errorf("no %s event in %v", want, phases)
		}
	}
	if last.Type != "result" || last.Result == nil || !strings.HasPrefix(last.Result.Index.Digest, "sha256:") {
		t.Errorf("the last event must be the result: %+v", last)
	}
}

// TestE2EProgressTTY runs farm under a pseudo-terminal: --progress auto
// must pick the live display.
func TestE2EProgressTTY(t *testing.T) {
	buildFarmHome(t)
	dest := filepath.Join(t.TempDir(), "layout")
	cmd := exec.Command(filepath.Join(theFarm.repoRoot, "bin", "farm"), "build", "--platforms", "linux/amd64,linux/arm64",
		"--output", "type=oci,dest="+dest, "-t", "x:1", writeContext(t, slowContainerfile("2")))
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var screen bytes.Buffer
	_, _ = io.Copy(&screen, f) // until farm exits and the pty closes
	if err := cmd.Wait(); err != nil {
		t.Fatalf("build under a terminal: %v\n%s", err, screen.String())
	}
	s := screen.String()
	for _, want := range []string{"\x1b[2K", "step 2/2", "done", "emulated", "Index sha256:"} {
		if !strings.Contains(s, want) {
			t.Errorf("the terminal display lacks %q:\n%q", want, s)
		}
	}
	if strings.Contains(s, "[linux/amd64@") {
		t.Errorf("a terminal gets the live display, not prefixed lines:\n%q", s)
	}
}
