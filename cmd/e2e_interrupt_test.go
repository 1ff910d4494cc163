//go:build e2e

package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// removeLeftovers waits for the RUN steps marked marker to end on the
// nodes and for their builds to settle, then removes the containers and
// images that were not there before.
func removeLeftovers(t *testing.T, before []string, marker string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); processRuns(marker) && time.Now().Before(deadline); {
		time.Sleep(time.Second)
	}
	var now []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		next := nodeLeftovers(t)
		if strings.Join(next, "\n") == strings.Join(now, "\n") {
			break
		}
		now = next
	}
	had := map[string]bool{}
	for _, l := range before {
		had[l] = true
	}
	for _, kind := range []string{"ps", "images"} { // containers before their images
		for _, l := range now {
			f := strings.Fields(l)
			if had[l] || len(f) != 3 || f[1] != kind {
				continue
			}
			rm := "rm"
			if kind == "images" {
				rm = "rmi"
			}
			_ = exec.Command("podman", "--url", "unix://"+f[0], rm, "-f", f[2]).Run()
		}
	}
}

// The first Ctrl-C says at once which nodes farm stops the builds on; a
// second one quits at once with 130 and says what may be left there.
func TestE2EBuildCtrlCTwice(t *testing.T) {
	buildFarmHome(t)
	marker := "start-" + uniq()
	dir := writeContext(t, "FROM base\nRUN echo "+marker+" && sleep 20 && uname -m > /arch\n")
	before := nodeLeftovers(t)
	t.Cleanup(func() { removeLeftovers(t, before, marker) })
	cmd, sc := startFarm(t, "build", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64", "-t", "x:1", dir)
	lines := make(chan string, 1000)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	next := func(want string, within time.Duration) bool {
		timeout := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return false
				}
				log = append(log, l)
				if strings.Contains(l, want) {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	if !next("] "+marker, 2*time.Minute) || !next("] "+marker, time.Minute) {
		t.Fatalf("the builds did not start:\n%s", strings.Join(log, "\n"))
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if !next("interrupted: stopping the builds on ", time.Second) {
		t.Fatalf("no notice within a second of Ctrl-C:\n%s", strings.Join(log, "\n"))
	}
	if l := log[len(log)-1]; !strings.Contains(l, "(Ctrl-C again to quit now)") || !strings.Contains(l, "p1") && !strings.Contains(l, "p2") {
		t.Errorf("the notice must name the nodes and say how to quit now: %q", l)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	quit := time.Now()
	if !next("quit without cleaning up", 3*time.Second) {
		t.Errorf("no word on what may be left:\n%s", strings.Join(log, "\n"))
	} else if l := log[len(log)-1]; !strings.Contains(l, "farm prune") || !strings.Contains(l, "p1") && !strings.Contains(l, "p2") {
		t.Errorf("the last word must name the nodes and farm prune: %q", l)
	}
	for range lines {
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Errorf("a second Ctrl-C: %v, want exit %d", err, exitInterrupted)
	}
	if took := time.Since(quit); took > 3*time.Second {
		t.Errorf("a second Ctrl-C took %s to quit", took)
	}
}

// On a terminal of 50 columns the live view of a real build leaves one
// row per platform on the screen: no line wraps, no stale copies.
func TestE2EProgressTTYNarrow(t *testing.T) {
	buildFarmHome(t)
	dest := filepath.Join(t.TempDir(), "layout")
	cmd := exec.Command(filepath.Join(theFarm.repoRoot, "bin", "farm"), "build", "--platforms", "linux/amd64,linux/arm64",
		"--output", "type=oci,dest="+dest, "-t", "x:1", writeContext(t, slowContainerfile("2")))
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 50})
	if err != nil {
		t.Fatal(err)
	}
	var screenOut strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		screenOut.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("build under a terminal: %v\n%q", err, screenOut.String())
	}
	live, _, ok := strings.Cut(strings.ReplaceAll(screenOut.String(), "\r\n", "\n"), "PLATFORM")
	if !ok {
		t.Fatalf("no summary:\n%q", screenOut.String())
	}
	scr := newScreen(50)
	if err := scr.write(live); err != nil {
		t.Fatal(err)
	}
	final := strings.Join(scr.lines(), "\n")
	if scr.wraps > 0 {
		t.Errorf("%d lines wrapped on a terminal of 50 columns:\n%s", scr.wraps, final)
	}
	for _, p := range []string{"linux/amd64 ", "linux/arm64 "} {
		if n := strings.Count("\n"+final, "\n"+p); n != 1 {
			t.Errorf("%d rows of %s on the screen, want 1:\n%s", n, p, final)
		}
	}
	if !strings.Contains(screenOut.String(), "step 2/2 RUN echo") {
		t.Errorf("the live view lacks the step's instruction:\n%q", screenOut.String())
	}
}
