package cmd

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
)

// scriptedEngine is a fake engine whose builds run a script.
type scriptedEngine struct {
	fakeEngine
	build func(context.Context, engine.NodeBuild) ([]engine.PlatformImage, error)
}

func (s scriptedEngine) Build(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	if s.build == nil {
		return s.fakeEngine.Build(ctx, req)
	}
	return s.build(ctx, req)
}

// scriptedOpener opens fake engines (see fakeOpener) whose builds run
// the script of their node.
func scriptedOpener(scripts map[string]func(context.Context, engine.NodeBuild) ([]engine.PlatformImage, error)) engine.Opener {
	return func(ctx context.Context, l engine.Link) (engine.Builder, error) {
		b, _ := fakeOpener(ctx, l)
		return scriptedEngine{fakeEngine: b.(fakeEngine), build: scripts[l.Node()]}, nil
	}
}

// startStep logs the first step of each platform of req.
func startStep(req engine.NodeBuild) {
	for _, p := range req.Platforms {
		req.Log(&p, "STEP 1/2: FROM base")
	}
}

// untilCanceled is a build that runs until it is canceled.
func untilCanceled(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	startStep(req)
	<-ctx.Done()
	return nil, ctx.Err()
}

// twoNodes makes the connections amd1 and arm1 and a context directory.
func twoNodes(t *testing.T) string {
	t.Helper()
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	mustCLI(t, "connection", "add", "arm1", "unix:///nonexistent/arm1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	return dir
}

// A platform stopped because another failed is "canceled" in the summary,
// not FAILED, with the time it ran (its only output line was at the start,
// which made it 0s).
func TestBuildSummaryShowsCanceledPlatforms(t *testing.T) {
	dir := twoNodes(t)
	open := scriptedOpener(map[string]func(context.Context, engine.NodeBuild) ([]engine.PlatformImage, error){
		"amd1": func(_ context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
			startStep(req)
			time.Sleep(300 * time.Millisecond)
			return nil, &errdefs.EngineError{Err: errors.New("building at STEP \"RUN make\": exit status 2")}
		},
		"arm1": untilCanceled,
	})
	out, errOut, err := farmCLIWith(t, open, "build", "--progress", "plain", "--platforms", "linux/amd64,linux/arm64",
		"--output", "type=oci,dest="+t.TempDir()+"/l", "-t", "x:1", dir)
	if ExitCode(err) != exitFailure {
		t.Fatalf("exit %d: %v\n%s", ExitCode(err), err, errOut)
	}
	for _, row := range []struct{ re, what string }{
		{`linux/amd64\s+amd1\s+native\s+FAILED\s+([0-9.]+)s\n`, "the failed platform must be FAILED"},
		{`linux/arm64\s+arm1\s+native\s+canceled\s+([0-9.]+)s\n`, "the platform stopped because the other failed must be canceled"},
	} {
		m := regexp.MustCompile(row.re).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("%s:\n%s", row.what, out)
		} else if ran, _ := strconv.ParseFloat(m[1], 64); ran < 0.3 {
			t.Errorf("both ran until the failure (0.3s), the summary says %ss:\n%s", m[1], out)
		}
	}
}

func TestCanceledPlatforms(t *testing.T) {
	err := errors.Join(
		&errdefs.BuildError{Platform: "linux/amd64", Node: "a", Err: errors.New("exit status 1")},
		&errdefs.BuildError{Platform: "linux/arm64", Node: "b", Err: errdefs.ErrCanceled},
		errors.Join(&errdefs.BuildError{Platform: "linux/s390x", Node: "c", Err: context.Canceled}),
	)
	got := canceledPlatforms(errors.New("x"))
	if len(got) != 0 {
		t.Errorf("no build error: %v", got)
	}
	got = canceledPlatforms(err)
	if len(got) != 2 || !got["linux/arm64"] || !got["linux/s390x"] {
		t.Errorf("canceled: %v", got)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits up to d for s() to contain want.
func waitFor(s func() string, want string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(s(), want) {
			return true
		}
	}
	return false
}
