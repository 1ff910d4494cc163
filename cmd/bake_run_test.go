package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
)

// bakeEngine is a fake podman node that notes each build: which target
// (the Containerfile's last line), when, and the named contexts it got.
type bakeEngine struct {
	node   string
	native ocispec.Platform
	log    *bakeLog
}

type bakeBuild struct {
	target, node, platform string
	start, end             time.Time
	contexts               map[string]string
}

type bakeLog struct {
	mu     sync.Mutex
	builds []bakeBuild
}

func (f bakeEngine) Info(context.Context) (engine.EngineInfo, error) {
	return engine.EngineInfo{Kind: "podman", Version: "5.8.6", Native: f.native, CPUs: 4, MemoryBytes: 1 << 30, EmulationReported: true}, nil
}
func (bakeEngine) Ping(context.Context) error { return nil }
func (f bakeEngine) Build(_ context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	data, err := os.ReadFile(req.Containerfile)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	target := lines[len(lines)-1]
	start := time.Now()
	time.Sleep(50 * time.Millisecond)
	var out []engine.PlatformImage
	var errs []error
	for _, p := range req.Platforms {
		f.log.mu.Lock()
		f.log.builds = append(f.log.builds, bakeBuild{target: target, node: f.node, platform: platform.Format(p), start: start, end: time.Now(), contexts: req.BuildContexts})
		f.log.mu.Unlock()
		if strings.Contains(target, "fail") {
			errs = append(errs, &errdefs.BuildError{Platform: platform.Format(p), Node: f.node, Err: &errdefs.EngineError{Err: errors.New("RUN false: exit status 1")}})
			continue
		}
		out = append(out, engine.PlatformImage{Platform: p, ImageID: "sha256:" + strings.Repeat("b", 64),
			Ref: "localhost/farm-build:" + strings.Fields(target)[1] + "-" + p.Architecture})
	}
	return out, errors.Join(errs...)
}
func (bakeEngine) Push(context.Context, string, string, engine.PushOptions) error { return nil }
func (bakeEngine) Export(context.Context, string, io.Writer) error                { return errors.New("no") }
func (bakeEngine) Existing(context.Context, []string) ([]string, error)           { return nil, nil }
func (bakeEngine) Remove(context.Context, []string) error                         { return nil }
func (bakeEngine) Close() error                                                   { return nil }

// bakeFarm adds nodes amd1 (amd64) and arm1 (arm64) answered by fake
// podman engines, and returns their opener and the log of their builds.
func bakeFarm(t *testing.T) (engine.Opener, *bakeLog) {
	t.Helper()
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	mustCLI(t, "connection", "add", "arm1", "unix:///nonexistent/arm1.sock")
	log := &bakeLog{}
	return func(_ context.Context, l engine.Link) (engine.Builder, error) {
		p := ocispec.Platform{OS: "linux", Architecture: "amd64"}
		if strings.HasPrefix(l.Node(), "arm") {
			p.Architecture = "arm64"
		}
		return bakeEngine{node: l.Node(), native: p, log: log}, nil
	}, log
}

// bakeDeps is a base, an image built FROM it, and a target apart; base
// fails when FAIL_BASE is set.
const bakeDeps = `
variable "FAIL_BASE" { default = "" }
group "default" { targets = ["app", "other"] }
target "_p" { platforms = ["linux/amd64", "linux/arm64"] }
target "base" {
  inherits = ["_p"]
  dockerfile-inline = "FROM scratch\n# base ${FAIL_BASE}"
}
target "app" {
  inherits = ["_p"]
  contexts = { base = "target:base" }
  dockerfile-inline = "FROM base\n# app"
}
target "other" {
  inherits = ["_p"]
  dockerfile-inline = "FROM scratch\n# other"
}`

// farm bake builds each target after its dependencies, the dependent on
// the node that holds its base's image for each platform, named as its
// context there; the metadata file has one entry per target.
func TestBakeBuildsInDependencyOrder(t *testing.T) {
	isolate(t)
	open, log := bakeFarm(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), bakeDeps)
	t.Chdir(dir)
	meta := filepath.Join(dir, "meta.json")
	out, errOut, err := farmCLIWith(t, open, "bake", "--progress", "plain", "--metadata-file", meta)
	if err != nil {
		t.Fatalf("farm bake: %v\n%s\n%s", err, out, errOut)
	}
	byTarget := map[string][]bakeBuild{}
	for _, b := range log.builds {
		byTarget[strings.Fields(b.target)[1]] = append(byTarget[strings.Fields(b.target)[1]], b)
	}
	if len(byTarget["base"]) != 2 || len(byTarget["app"]) != 2 || len(byTarget["other"]) != 2 {
		t.Fatalf("builds: %+v", log.builds)
	}
	for _, a := range byTarget["app"] {
		for _, b := range byTarget["base"] {
			if a.start.Before(b.end) {
				t.Errorf("app started (%s) before base ended (%s)", a.start, b.end)
			}
		}
		arch := strings.TrimPrefix(a.platform, "linux/")
		if want := "docker-image://localhost/farm-build:base-" + arch; a.contexts["base"] != want {
			t.Errorf("app %s got context base=%q, want %q", a.platform, a.contexts["base"], want)
		}
		if a.node != map[string]string{"amd64": "amd1", "arm64": "arm1"}[arch] {
			t.Errorf("app %s built on %s, not where its base is", a.platform, a.node)
		}
	}
	for _, want := range []string{"app     ok      linux/amd64@amd1,linux/arm64@arm1", "storing the result (app, none)", "Bake "} {
		if !strings.Contains(out+errOut, want) {
			t.Errorf("output lacks %q:\n%s\n%s", want, out, errOut)
		}
	}
	var md map[string]map[string]any
	data, _ := os.ReadFile(meta)
	if json.Unmarshal(data, &md) != nil || len(md) != 3 || md["app"]["farm.result"] != "success" || md["base"]["farm.result"] != "success" {
		t.Errorf("metadata: %s", data)
	}
	// Every target is recorded under the run's ID.
	id := strings.Fields(errOut)[1]
	hist := mustCLI(t, "history")
	if strings.Count(hist, id+":") != 3 {
		t.Errorf("history does not show the 3 targets of bake %s:\n%s", id, hist)
	}
	logs := mustCLI(t, "logs", id, "--target", "app")
	if !strings.Contains(logs, "=== linux/amd64 on amd1 (success)") {
		t.Errorf("farm logs %s --target app:\n%s", id, logs)
	}
}

// A failing base stops its dependent, reported as skipped, but not the
// target apart; the exit code is a failed build's, and the metadata file
// says which target failed and why.
func TestBakeFailureStopsOnlyDependents(t *testing.T) {
	isolate(t)
	open, log := bakeFarm(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), bakeDeps)
	t.Chdir(dir)
	t.Setenv("FAIL_BASE", "fail")
	meta := filepath.Join(dir, "meta.json")
	out, errOut, err := farmCLIWith(t, open, "bake", "--progress", "plain", "--metadata-file", meta)
	if ExitCode(err) != exitFailure || OneLine(err) != err.Error() || !strings.Contains(err.Error(), "1 of 3 targets failed (base), 1 skipped (app)") {
		t.Fatalf("exit %d: %v\n%s\n%s", ExitCode(err), err, out, errOut)
	}
	for _, b := range log.builds {
		if strings.Contains(b.target, "app") {
			t.Errorf("app was built although base failed")
		}
	}
	var md map[string]map[string]any
	data, _ := os.ReadFile(meta)
	if json.Unmarshal(data, &md) != nil || md["base"]["farm.result"] != "failed" || !strings.Contains(md["base"]["error"].(string), "exit status 1") ||
		md["app"]["farm.result"] != "skipped" || !strings.Contains(md["app"]["error"].(string), "base failed") ||
		md["other"]["farm.result"] != "success" {
		t.Errorf("metadata: %s", data)
	}
	if !strings.Contains(out, "skipped") {
		t.Errorf("summary:\n%s", out)
	}
}

// farm bake --dry-run prints the run's joint plan: every target's
// platforms with their node, mode, facts' age and why; the dependents
// with their base. With fresh facts it contacts no node.
func TestBakeDryRunPrintsTheJointPlan(t *testing.T) {
	isolate(t)
	open, log := bakeFarm(t)
	var opens sync.Map
	counting := func(ctx context.Context, l engine.Link) (engine.Builder, error) {
		n, _ := opens.LoadOrStore(l.Node(), new(int))
		*n.(*int)++
		return open(ctx, l)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), bakeDeps)
	t.Chdir(dir)
	for round := range 2 {
		out, errOut, err := farmCLIWith(t, counting, "bake", "--dry-run")
		if err != nil {
			t.Fatalf("farm bake --dry-run: %v\n%s\n%s", err, out, errOut)
		}
		for _, want := range []string{"TARGET", "FACTS", "base    linux/amd64  amd1  native", "base    linux/arm64  arm1  native",
			"app     linux/amd64  amd1  native", "app     linux/arm64  arm1  native", "on the node that builds what it starts from", "other   linux/amd64"} {
			if !strings.Contains(out, want) {
				t.Errorf("round %d: plan lacks %q:\n%s", round, want, out)
			}
		}
		if round == 0 {
			opens.Range(func(k, _ any) bool { opens.Delete(k); return true })
			continue
		}
		opens.Range(func(k, _ any) bool { t.Errorf("fresh facts, yet %s was contacted", k); return true })
		if !strings.Contains(out, "s ago") && !strings.Contains(out, "just now") {
			t.Errorf("no facts age:\n%s", out)
		}
	}
	if len(log.builds) != 0 {
		t.Errorf("a dry run built: %+v", log.builds)
	}
}
