package farm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
)

// archEngine is a fakeBuilder of another native platform.
type archEngine struct {
	*fakeBuilder
	native ocispec.Platform
}

func (e archEngine) Info(context.Context) (engine.EngineInfo, error) {
	return engine.EngineInfo{Kind: "fake", Version: "1", Native: e.native, CPUs: 2, EmulationReported: true}, nil
}

// countingFarm opens fake nodes and counts the opens; a node whose open
// is refused is down.
type countingFarm struct {
	mu       sync.Mutex
	opened   []string
	down     map[string]bool
	downNext bool // the first node opened is down
	arch     map[string]ocispec.Platform
	builders map[string]*fakeBuilder
	dying    string // this node dies during its first build
}

func (f *countingFarm) open(_ context.Context, l engine.Link) (engine.Builder, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := l.Node()
	f.opened = append(f.opened, name)
	if f.downNext {
		f.downNext = false
		f.down = map[string]bool{name: true}
	}
	if f.down[name] {
		return nil, fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
	}
	if f.builders == nil {
		f.builders = map[string]*fakeBuilder{}
	}
	b := &fakeBuilder{name: name}
	if name == f.dying {
		b.build = func(_ context.Context, _ int, req engine.NodeBuild) ([]engine.PlatformImage, error) {
			b.dead.Store(true)
			return nil, failAll(name, req, io.ErrUnexpectedEOF)
		}
	}
	f.builders[name] = b
	native, ok := f.arch[name]
	if !ok {
		native = amd64
	}
	return archEngine{fakeBuilder: b, native: native}, nil
}

func (f *countingFarm) opens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.opened)
}

// farmOf is n connections, n1..nN, and facts of each seen at seen.
func farmOf(n int, seen time.Time) ([]config.Connection, map[string]KnownNode) {
	var conns []config.Connection
	known := map[string]KnownNode{}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		c := config.Connection{Name: name, URI: "unix:///nonexistent/" + name + ".sock"}
		conns = append(conns, c)
		known[name] = KnownNode{URI: c.URI, Identity: "unix:/nonexistent/" + name + ".sock", Seen: seen,
			Facts: NodeFacts{Kind: "fake", Version: "1", Native: amd64, CPUs: 2, EmulationSource: "engine"}}
	}
	return conns, known
}

// buildWith builds linux/amd64 on conns with the known facts.
func buildWith(t *testing.T, f *countingFarm, conns []config.Connection, known map[string]KnownNode, opts BuildOptions) (*BuildResult, error) {
	t.Helper()
	pause, backoff := retryPause, pingBackoff
	retryPause, pingBackoff = time.Millisecond, []time.Duration{0, time.Millisecond}
	t.Cleanup(func() { retryPause, pingBackoff = pause, backoff })
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM scratch\n"), 0o644))
	var stored []string
	opts.ContextDir, opts.Platforms, opts.Tags = dir, []ocispec.Platform{amd64}, []string{"x:1"}
	opts.Output, opts.Logger, opts.KnownNodes = recordingOutput{stored: &stored}, slog.New(slog.DiscardHandler), known
	return Build(context.Background(), conns, f.open, opts)
}

// With fresh facts of 8 nodes, a one-platform build opens one node; with
// stale facts it opens them all.
func TestFreshFactsOpenOnlyThePlannedNode(t *testing.T) {
	conns, known := farmOf(8, time.Now().Add(-time.Minute))
	f := &countingFarm{}
	res, err := buildWith(t, f, conns, known, BuildOptions{})
	if err != nil || f.opens() != 1 || len(res.Nodes) != 1 || res.Nodes[0].Seen.IsZero() || res.Nodes[0].Identity == "" {
		t.Fatalf("fresh facts: %d opens (%v), observed %+v, %v", f.opens(), f.opened, res, err)
	}
	conns, known = farmOf(8, time.Now().Add(-2*time.Hour))
	f = &countingFarm{}
	if res, err := buildWith(t, f, conns, known, BuildOptions{}); err != nil || f.opens() != 8 || len(res.Nodes) != 8 {
		t.Fatalf("stale facts: %d opens, %v", f.opens(), err)
	}
	// Facts of another URI are not used.
	conns, known = farmOf(8, time.Now())
	conns[3].URI = "unix:///elsewhere.sock"
	f = &countingFarm{}
	if _, err := buildWith(t, f, conns, known, BuildOptions{}); err != nil || f.opens() != 2 {
		t.Fatalf("a changed URI: %d opens (%v), %v", f.opens(), f.opened, err)
	}
}

// A planned node that is down makes the build open another and succeed,
// and the failure is reported for the records.
func TestAPlannedNodeDownIsReplaced(t *testing.T) {
	conns, known := farmOf(4, time.Now())
	f := &countingFarm{downNext: true}
	res, err := buildWith(t, f, conns, known, BuildOptions{})
	if err != nil || f.opens() != 2 || res.Platforms[0].Node == f.opened[0] {
		t.Fatalf("%d opens (%v), %v", f.opens(), f.opened, err)
	}
	if len(res.Nodes) != 2 || res.Nodes[0].Failed.IsZero() || res.Nodes[0].Name != f.opened[0] {
		t.Errorf("observed %+v", res.Nodes)
	}
	// A node that failed lately is tried last: not planned while others serve.
	conns, known = farmOf(2, time.Now().Add(-2*time.Minute))
	k := known["n1"]
	k.Facts.CPUs, k.LastFailure = 64, time.Now().Add(-time.Minute)
	known["n1"] = k
	f = &countingFarm{}
	if res, err := buildWith(t, f, conns, known, BuildOptions{}); err != nil || f.opens() != 1 || res.Platforms[0].Node != "n2" {
		t.Fatalf("a node that failed lately: %v, %v", f.opened, err)
	}
	// Seen since it failed (farm status, another build): it is back.
	k.Seen = time.Now()
	known["n1"] = k
	f = &countingFarm{}
	if res, err := buildWith(t, f, conns, known, BuildOptions{}); err != nil || f.opens() != 1 || res.Platforms[0].Node != "n1" {
		t.Fatalf("a node seen since it failed: %v, %v", f.opened, err)
	}
}

// A node whose identity and platforms changed since its facts were seen
// is planned again with what it is now.
func TestANodeThatChangedIsPlannedAgain(t *testing.T) {
	conns, known := farmOf(2, time.Now())
	k := known["n1"]
	k.Identity, k.Facts.CPUs = "SHA256:another:/run/podman.sock", 64
	known["n1"] = k
	f := &countingFarm{arch: map[string]ocispec.Platform{"n1": arm64}}
	res, err := buildWith(t, f, conns, known, BuildOptions{Weights: map[string]float64{"n1": 10}})
	if err != nil || len(f.opened) != 2 || f.opened[0] != "n1" || res.Platforms[0].Node != "n2" {
		t.Fatalf("opened %v, result %+v, %v", f.opened, res, err)
	}
	if res.Nodes[0].Identity != "unix:/nonexistent/n1.sock" || res.Nodes[0].Facts.Native.Architecture != "arm64" {
		t.Errorf("observed %+v", res.Nodes[0])
	}
}

// A node that dies during its build has its platform built on a node
// opened then: the rest of the farm is opened once.
func TestARetryElsewhereOpensTheRest(t *testing.T) {
	conns, known := farmOf(3, time.Now())
	f := &countingFarm{dying: "n1"}
	res, err := buildWith(t, f, conns, known, BuildOptions{Weights: map[string]float64{"n1": 10}})
	if err != nil || f.opens() != 3 || res.Platforms[0].Node == "n1" || res.Platforms[0].Attempts != 2 {
		t.Fatalf("opened %v, result %+v, %v", f.opened, res, err)
	}
	if len(res.Nodes) != 3 {
		t.Errorf("observed %+v", res.Nodes)
	}
}

// A node never seen that failed lately costs nothing while the others
// serve, and is the last resort when they do not.
func TestANodeThatFailedLatelyIsTheLastResort(t *testing.T) {
	conns, known := farmOf(2, time.Now())
	gone := config.Connection{Name: "gone", URI: "unix:///nonexistent/gone.sock"}
	conns = append(conns, gone)
	known["gone"] = KnownNode{URI: gone.URI, LastFailure: time.Now().Add(-time.Minute)}
	f := &countingFarm{}
	if _, err := buildWith(t, f, conns, known, BuildOptions{}); err != nil || f.opens() != 1 || f.opened[0] == "gone" {
		t.Fatalf("the others serve: opened %v, %v", f.opened, err)
	}
	// The known nodes are down now: the one that failed lately is tried.
	f = &countingFarm{down: map[string]bool{"n1": true, "n2": true}}
	_, _ = buildWith(t, f, conns, known, BuildOptions{})
	if !slices.Contains(f.opened, "gone") {
		t.Errorf("with the others down the node that failed lately must be tried: opened %v", f.opened)
	}
}
