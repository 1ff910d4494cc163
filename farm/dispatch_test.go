package farm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/schedule"
)

// fakeBuilder is an engine whose builds a test scripts: the dispatcher's
// failure paths without real nodes.
type fakeBuilder struct {
	name   string
	dead   atomic.Bool
	closed atomic.Bool
	mu     sync.Mutex
	calls  int
	// build answers the n-th Build call (1-based); nil builds every
	// platform.
	build func(ctx context.Context, n int, req engine.NodeBuild) ([]engine.PlatformImage, error)
}

var _ engine.Builder = (*fakeBuilder)(nil)

func (f *fakeBuilder) Info(context.Context) (engine.EngineInfo, error) {
	return engine.EngineInfo{Kind: "fake", Native: ocispec.Platform{OS: "linux", Architecture: "amd64"}, CPUs: 2, EmulationReported: true}, nil
}

func (f *fakeBuilder) Ping(context.Context) error {
	if f.dead.Load() {
		return errors.New("connection refused")
	}
	return nil
}

func (f *fakeBuilder) Build(ctx context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if f.build != nil {
		return f.build(ctx, n, req)
	}
	return builtAll(f.name, req), nil
}

func (f *fakeBuilder) Push(context.Context, string, string, engine.PushOptions) error { return nil }
func (f *fakeBuilder) Export(context.Context, string, io.Writer) error                { return nil }
func (f *fakeBuilder) Existing(context.Context, []string) ([]string, error)           { return nil, nil }
func (f *fakeBuilder) Remove(context.Context, []string) error                         { return nil }
func (f *fakeBuilder) Close() error                                                   { f.closed.Store(true); return nil }

// builtAll is a successful build of every platform of req.
func builtAll(node string, req engine.NodeBuild) []engine.PlatformImage {
	var out []engine.PlatformImage
	for _, p := range req.Platforms {
		out = append(out, engine.PlatformImage{Platform: p, ImageID: "sha256:" + node + "-" + platform.Slug(p)})
	}
	return out
}

// failAll fails every platform of req with err.
func failAll(node string, req engine.NodeBuild, err error) error {
	var errs []error
	for _, p := range req.Platforms {
		errs = append(errs, &errdefs.BuildError{Platform: platform.Format(p), Node: node, Err: err})
	}
	return errors.Join(errs...)
}

var (
	amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispec.Platform{OS: "linux", Architecture: "arm64"}
)

func fakeNode(f *fakeBuilder) *Node {
	info, _ := f.Info(context.Background())
	return &Node{Name: f.name, Builder: f, Info: info, Emulated: []ocispec.Platform{arm64}}
}

// dispatch runs a plan of amd64 on a and arm64 on b.
func dispatch(t *testing.T, opts BuildOptions, a, b *fakeBuilder) *dispatcher {
	t.Helper()
	pause, backoff := retryPause, pingBackoff
	retryPause, pingBackoff = time.Millisecond, []time.Duration{0, time.Millisecond}
	t.Cleanup(func() { retryPause, pingBackoff = pause, backoff })
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	plan := schedule.Plan{Jobs: []schedule.Job{{Platform: amd64, Node: a.name}, {Platform: arm64, Node: b.name, Emulated: true}}}
	d := runPlan(context.Background(), plan, []*Node{fakeNode(a), fakeNode(b)}, engine.NodeBuild{}, opts)
	t.Cleanup(d.cancel)
	return d
}

func wantJob(t *testing.T, d *dispatcher, i int, node string, attempts int) {
	t.Helper()
	j := d.jobs[i]
	if j.Node != node || j.Attempts != attempts || j.ImageID == "" || d.errs[i] != nil {
		t.Errorf("%s: node %s, %d attempts, image %q, error %v; want built on %s in %d attempts", j.Platform, j.Node, j.Attempts, j.ImageID, d.errs[i], node, attempts)
	}
}

func TestDispatchBuildsThePlan(t *testing.T) {
	a, b := &fakeBuilder{name: "a"}, &fakeBuilder{name: "b"}
	d := dispatch(t, BuildOptions{}, a, b)
	wantJob(t, d, 0, "a", 1)
	wantJob(t, d, 1, "b", 1)
	if d.jobs[0].ImageID != "sha256:a-linux-amd64" || !d.jobs[1].Emulated {
		t.Errorf("jobs = %+v", d.jobs)
	}
}

func TestDispatchReschedulesWhenANodeDies(t *testing.T) {
	a := &fakeBuilder{name: "a", build: func(_ context.Context, _ int, req engine.NodeBuild) ([]engine.PlatformImage, error) {
		return nil, failAll("a", req, io.ErrUnexpectedEOF)
	}}
	a.dead.Store(true)
	b := &fakeBuilder{name: "b"}
	d := dispatch(t, BuildOptions{}, a, b)
	wantJob(t, d, 0, "b", 2)
	wantJob(t, d, 1, "b", 1)
	if !d.dead["a"] {
		t.Error("a must be marked dead")
	}
}

func TestDispatchRetriesABrokenConnection(t *testing.T) {
	a := &fakeBuilder{name: "a", build: func(_ context.Context, n int, req engine.NodeBuild) ([]engine.PlatformImage, error) {
		if n == 1 {
			return nil, failAll("a", req, fmt.Errorf("decoding stream: %w", io.ErrUnexpectedEOF))
		}
		return builtAll("a", req), nil
	}}
	b := &fakeBuilder{name: "b"}
	d := dispatch(t, BuildOptions{}, a, b)
	if d.jobs[0].Attempts != 2 || d.errs[0] != nil || d.jobs[0].ImageID == "" {
		t.Errorf("a broken connection to a live node must be built again: %+v, %v", d.jobs[0], d.errs[0])
	}
	if d.dead["a"] {
		t.Error("a live node is not dead")
	}
}

func TestDispatchGivesUpAfterMaxAttempts(t *testing.T) {
	broken := func(_ context.Context, _ int, req engine.NodeBuild) ([]engine.PlatformImage, error) {
		return nil, failAll("x", req, io.ErrUnexpectedEOF)
	}
	a, b := &fakeBuilder{name: "a", build: broken}, &fakeBuilder{name: "b", build: broken}
	d := dispatch(t, BuildOptions{KeepGoing: true}, a, b)
	for i := range d.jobs {
		if d.jobs[i].Attempts != maxAttempts || !errors.Is(d.errs[i], errdefs.ErrNodeDown) {
			t.Errorf("%s: %d attempts, %v; want %d attempts and a node-down error", d.jobs[i].Platform, d.jobs[i].Attempts, d.errs[i], maxAttempts)
		}
	}
}

// stepFails fails every platform with what the engine reported.
func stepFails(_ context.Context, _ int, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	return nil, failAll("a", req, &errdefs.EngineError{Err: errors.New("pinging container registry 127.0.0.1:1: connection refused")})
}

// slowBuild builds after a while, unless canceled first.
func slowBuild(ctx context.Context, _ int, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	select {
	case <-ctx.Done():
		return nil, failAll("b", req, ctx.Err())
	case <-time.After(200 * time.Millisecond):
		return builtAll("b", req), nil
	}
}

func TestDispatchEngineErrorIsABuildFailure(t *testing.T) {
	a, b := &fakeBuilder{name: "a", build: stepFails}, &fakeBuilder{name: "b", build: slowBuild}
	d := dispatch(t, BuildOptions{}, a, b)
	var reported *errdefs.EngineError
	if d.jobs[0].Attempts != 1 || !errors.As(d.errs[0], &reported) || errors.Is(d.errs[0], errdefs.ErrNodeDown) {
		t.Errorf("what the engine reported is not retried: %+v, %v", d.jobs[0], d.errs[0])
	}
	if !errors.Is(d.errs[1], errdefs.ErrCanceled) {
		t.Errorf("without --keep-going the other platform is canceled: %v", d.errs[1])
	}
	if err := joinFailuresFirst(d.errs); !errors.As(err, &reported) {
		t.Errorf("the real failure comes first: %v", err)
	}
}

func TestDispatchKeepGoingLetsOthersFinish(t *testing.T) {
	a, b := &fakeBuilder{name: "a", build: stepFails}, &fakeBuilder{name: "b", build: slowBuild}
	d := dispatch(t, BuildOptions{KeepGoing: true}, a, b)
	if d.errs[0] == nil {
		t.Error("a's platform failed")
	}
	wantJob(t, d, 1, "b", 1)
}

func TestDispatchTimeout(t *testing.T) {
	a, b := &fakeBuilder{name: "a", build: slowBuild}, &fakeBuilder{name: "b"}
	d := dispatch(t, BuildOptions{Timeout: 20 * time.Millisecond, KeepGoing: true}, a, b)
	if d.errs[0] == nil || !strings.Contains(d.errs[0].Error(), "--timeout") || d.jobs[0].Attempts != 1 {
		t.Errorf("a build over --timeout fails, once: %+v, %v", d.jobs[0], d.errs[0])
	}
	wantJob(t, d, 1, "b", 1)
}

func TestRecheckRebuildsWhatADeadNodeHeld(t *testing.T) {
	a, b := &fakeBuilder{name: "a"}, &fakeBuilder{name: "b"}
	d := dispatch(t, BuildOptions{}, a, b)
	a.dead.Store(true) // after building, before the result is stored
	d.recheck()
	wantJob(t, d, 0, "b", 2)
	wantJob(t, d, 1, "b", 1)
	if d.built[0] == nil || d.built[0].Name != "b" {
		t.Errorf("the image must be taken from b now: %+v", d.built[0])
	}
}
