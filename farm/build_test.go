package farm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/platform"
)

// testingEngine is a fake engine that builds every platform but the
// failing one and whose --test exits with exit.
type testingEngine struct {
	fakeBuilder
	failing string
	exit    int
	// hang makes --test commands run until they are stopped.
	hang bool
	// auth is the auth file the last build was given, as it read then.
	auth string
	// containerfiles are the Containerfiles the builds read.
	containerfiles []string
}

func (e *testingEngine) Info(context.Context) (engine.EngineInfo, error) {
	return engine.EngineInfo{Kind: "fake", Native: amd64, CPUs: 2, EmulationReported: true, Emulated: []ocispec.Platform{arm64}}, nil
}

func (e *testingEngine) Build(_ context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	data, _ := os.ReadFile(req.AuthFile)
	e.auth = string(data)
	cf, _ := os.ReadFile(req.Containerfile)
	e.containerfiles = append(e.containerfiles, string(cf))
	var out []engine.PlatformImage
	var errs []error
	for _, p := range req.Platforms {
		if platform.Format(p) == e.failing {
			errs = append(errs, &errdefs.BuildError{Platform: e.failing, Node: e.name, Err: &errdefs.EngineError{Err: errors.New("exit status 1")}})
			continue
		}
		out = append(out, engine.PlatformImage{Platform: p, ImageID: "sha256:" + platform.Slug(p)})
	}
	return out, errors.Join(errs...)
}

func (e *testingEngine) Test(ctx context.Context, _ string, _ string, _ func(string)) (int, error) {
	if e.hang {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	return e.exit, nil
}

// recordingOutput remembers what was stored.
type recordingOutput struct{ stored *[]string }

func (recordingOutput) Kind() string { return "test" }

func (o recordingOutput) store(_ context.Context, d delivery) (manifest.Result, error) {
	for _, img := range d.images {
		*o.stored = append(*o.stored, platform.Format(img.Platform))
	}
	return manifest.Result{Digest: "sha256:index"}, nil
}

// fakeBuild builds linux/amd64 and linux/arm64 on one fake node.
func fakeBuild(t *testing.T, e *testingEngine, opts BuildOptions) ([]string, error) {
	t.Helper()
	return fakeBuildOf(t, e, opts, "FROM scratch\n")
}

func fakeBuildOf(t *testing.T, e *testingEngine, opts BuildOptions, containerfile string) ([]string, error) {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o644))
	var stored []string
	opts.ContextDir, opts.Platforms, opts.Tags = dir, []ocispec.Platform{amd64, arm64}, []string{"x:1"}
	opts.Output, opts.Logger = recordingOutput{stored: &stored}, slog.New(slog.DiscardHandler)
	open := func(context.Context, engine.Link) (engine.Builder, error) { return e, nil }
	_, err := Build(context.Background(), []config.Connection{{Name: "n", URI: "unix:///nonexistent/n.sock"}}, open, opts)
	return stored, err
}

func TestBuildIsAllOrNothing(t *testing.T) {
	stored, err := fakeBuild(t, &testingEngine{fakeBuilder: fakeBuilder{name: "n"}, failing: "linux/arm64"}, BuildOptions{KeepGoing: true})
	var be *errdefs.BuildError
	if !errors.As(err, &be) || be.Platform != "linux/arm64" || len(stored) != 0 {
		t.Errorf("a failed platform stores nothing: stored %v, %v", stored, err)
	}
	stored, err = fakeBuild(t, &testingEngine{fakeBuilder: fakeBuilder{name: "n"}, failing: "linux/arm64"}, BuildOptions{AllowPartial: true, KeepGoing: true})
	if err != nil || strings.Join(stored, ",") != "linux/amd64" {
		t.Errorf("--allow-partial stores what built: stored %v, %v", stored, err)
	}
	stored, err = fakeBuild(t, &testingEngine{fakeBuilder: fakeBuilder{name: "n"}}, BuildOptions{})
	if err != nil || len(stored) != 2 {
		t.Errorf("a good build stores both platforms: %v, %v", stored, err)
	}
}

func TestBuildTestGate(t *testing.T) {
	stored, err := fakeBuild(t, &testingEngine{fakeBuilder: fakeBuilder{name: "n"}, exit: 3}, BuildOptions{Tests: []string{"make check"}})
	if !errors.Is(err, errdefs.ErrTestFailed) || len(stored) != 0 || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("a failing --test stores nothing: stored %v, %v", stored, err)
	}
	stored, err = fakeBuild(t, &testingEngine{fakeBuilder: fakeBuilder{name: "n"}}, BuildOptions{Tests: []string{"make check"}})
	if err != nil || len(stored) != 2 {
		t.Errorf("a passing --test stores: %v, %v", stored, err)
	}
}

// TestPinBaseRewritesToTheDigest resolves a FROM image in a registry
// (farm's own blob server) and checks the copy names its digest.
func TestPinBaseRewritesToTheDigest(t *testing.T) {
	s, err := manifest.NewBlobServer(t.TempDir())
	must(t, err)
	srv := httptest.NewServer(s)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	cfg := `{"architecture":"amd64","os":"linux"}`
	man := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		digest.FromString(cfg).String() + `","size":` + strconv.Itoa(len(cfg)) + `},"layers":[]}`
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/base/manifests/1", strings.NewReader(man))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("putting the base: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	dir := t.TempDir()
	cf := filepath.Join(dir, "Containerfile")
	must(t, os.WriteFile(cf, []byte(fmt.Sprintf("ARG TAG=1\nFROM %s/base:$TAG AS build\nRUN make\nFROM build\n", host)), 0o644))
	auth := filepath.Join(dir, "auth.json")
	must(t, os.WriteFile(auth, []byte(`{"auths":{}}`), 0o600))
	sys := &types.SystemContext{DockerInsecureSkipTLSVerify: types.OptionalBoolTrue, AuthFilePath: auth}
	pinned, pins, err := pinBases(context.Background(), cf, nil, []ocispec.Platform{amd64}, dir, sys)
	must(t, err)
	want := host + "/base@" + digest.FromString(man).String()
	data, _ := os.ReadFile(pinned)
	if len(pins) != 1 || pins[0].Pinned != want || pins[0].PerPlatform["linux/amd64"] != digest.FromString(man).String() {
		t.Errorf("pins = %+v, want %s", pins, want)
	}
	if !strings.Contains(string(data), "FROM "+want+" AS build\n") || strings.Contains(string(data), "base:$TAG") {
		t.Errorf("the pinned Containerfile must name the digest:\n%s", data)
	}
}

// A node's build gets the credentials of its FROM registries only.
func TestBuildGivesNodesOnlyTheirBaseRegistrysCredentials(t *testing.T) {
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	auth := filepath.Join(t.TempDir(), "auth.json")
	must(t, os.WriteFile(auth, []byte(`{"auths":{"a.example":{"auth":"YWxpY2U6cGE="},"b.example":{"auth":"Ym9iOnBi"}}}`), 0o600))
	e := &testingEngine{fakeBuilder: fakeBuilder{name: "n"}}
	if _, err := fakeBuildOf(t, e, BuildOptions{AuthFile: auth}, "FROM a.example/base:1\n"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.auth, "a.example") || strings.Contains(e.auth, "b.example") || strings.Contains(e.auth, "Ym9iOnBi") {
		t.Errorf("the node got %s", e.auth)
	}
}

func TestBuildReadsAPipedContainerfileOnce(t *testing.T) {
	// -f /dev/stdin: the Containerfile can be read only once, and every
	// node must build from all of it.
	r, w, err := os.Pipe()
	must(t, err)
	defer r.Close()
	const text = "FROM scratch\nCOPY . /\n"
	_, _ = w.WriteString(text)
	w.Close()
	e := &testingEngine{fakeBuilder: fakeBuilder{name: "n"}}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM other\n"), 0o644))
	var stored []string
	open := func(context.Context, engine.Link) (engine.Builder, error) { return e, nil }
	_, err = Build(context.Background(), []config.Connection{{Name: "n", URI: "unix:///nonexistent/n.sock"}}, open, BuildOptions{
		ContextDir: dir, Containerfile: fmt.Sprintf("/proc/self/fd/%d", r.Fd()), Platforms: []ocispec.Platform{amd64, arm64},
		Tags: []string{"x:1"}, Output: recordingOutput{stored: &stored}, KeepGoing: true})
	if err != nil || len(e.containerfiles) == 0 {
		t.Fatalf("Build: %v (%d builds)", err, len(e.containerfiles))
	}
	for _, cf := range e.containerfiles {
		if cf != text {
			t.Errorf("a node read %q, want the piped Containerfile %q", cf, text)
		}
	}
}

func TestBuildTestHasADeadline(t *testing.T) {
	stored, err := fakeBuild(t, &testingEngine{fakeBuilder: fakeBuilder{name: "n"}, hang: true}, BuildOptions{Tests: []string{"sleep infinity"}, Timeout: time.Second})
	if !errors.Is(err, errdefs.ErrTestFailed) || !strings.Contains(err.Error(), "did not finish within 1s") || len(stored) != 0 {
		t.Errorf("a --test command that hangs is stopped at its deadline and fails the build: stored %v, %v", stored, err)
	}
}
