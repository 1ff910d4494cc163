package cmd

import (
	"context"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/engine"
)

// interruptible runs farm build in-process on amd1 and arm1, whose builds
// run until canceled and then take until release is closed to clean up.
// It returns the signal channel, farm's output, and channels that get the
// status execute returns and the code exit was called with.
func interruptible(t *testing.T, release chan struct{}) (chan os.Signal, *lockedBuffer, *lockedBuffer, chan int, chan int) {
	t.Helper()
	dir := twoNodes(t)
	started := make(chan struct{}, 2)
	cleaning := func(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
		startStep(req)
		started <- struct{}{}
		<-ctx.Done()
		<-release
		return nil, ctx.Err()
	}
	root := newRootCmd(scriptedOpener(map[string]func(context.Context, engine.NodeBuild) ([]engine.PlatformImage, error){"amd1": cleaning, "arm1": cleaning}))
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs([]string{"build", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64", "--output", "type=oci,dest=" + t.TempDir() + "/l", "-t", "x:1", dir})
	sigs, status, exited := make(chan os.Signal, 2), make(chan int, 1), make(chan int, 1)
	go func() {
		status <- execute(root, sigs, errOut, func(code int) { exited <- code; runtime.Goexit() })
	}()
	for range 2 {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("the builds did not start:\n%s", errOut)
		}
	}
	return sigs, out, errOut, status, exited
}

const stopping = "interrupted: stopping the builds on amd1, arm1 and removing what they left there (Ctrl-C again to quit now)"

// The first Ctrl-C says at once that farm stops the builds, and where;
// farm then waits for the nodes to clean up and exits 130, the platforms
// canceled.
func TestCtrlCSaysAtOnceWhatItStops(t *testing.T) {
	release := make(chan struct{})
	sigs, out, errOut, status, _ := interruptible(t, release)
	sigs <- os.Interrupt
	if !waitFor(errOut.String, stopping, 2*time.Second) {
		t.Fatalf("no notice while the nodes clean up:\n%s", errOut)
	}
	close(release)
	select {
	case code := <-status:
		if code != exitInterrupted {
			t.Errorf("exit %d, want %d\n%s", code, exitInterrupted, errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("farm did not end after the nodes cleaned up")
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if !regexp.MustCompile(p + `\s+\S+\s+native\s+canceled\s+[0-9.]+s\n`).MatchString(out.String()) {
			t.Errorf("%s must be canceled in the summary:\n%s", p, out)
		}
	}
}

// A second Ctrl-C quits at once, exit 130, and says what may be left on
// which nodes and how to remove it.
func TestCtrlCTwiceQuitsAtOnce(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	sigs, _, errOut, _, exited := interruptible(t, release)
	sigs <- os.Interrupt
	if !waitFor(errOut.String, stopping, 2*time.Second) {
		t.Fatalf("no notice:\n%s", errOut)
	}
	sigs <- os.Interrupt
	select {
	case code := <-exited:
		if code != exitInterrupted {
			t.Errorf("exit %d, want %d", code, exitInterrupted)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("a second Ctrl-C must quit at once:\n%s", errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"quit without cleaning up", "build containers and images on amd1, arm1", "farm prune", "podman ps -a --external"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last line lacks %q: %q", want, last)
		}
	}
}

// Without a build, Ctrl-C still says that farm stops.
func TestNoticesWithoutBuilds(t *testing.T) {
	if n := stoppingNotice(nil); !strings.Contains(n, "Ctrl-C again to quit now") {
		t.Errorf("stopping: %q", n)
	}
	if n := quitNotice(nil); strings.Contains(n, "left") {
		t.Errorf("quit with nothing building: %q", n)
	}
}
