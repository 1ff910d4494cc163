package cmd

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
)

// fakeEngine is an engine that answers from memory: the CLI without nodes.
type fakeEngine struct {
	native ocispec.Platform
}

var _ engine.Builder = fakeEngine{}

func (f fakeEngine) Info(context.Context) (engine.EngineInfo, error) {
	return engine.EngineInfo{Kind: "fake", Version: "1.0", Native: f.native, CPUs: 4, MemoryBytes: 1 << 30,
		EmulationReported: true, Emulated: []ocispec.Platform{{OS: "linux", Architecture: "arm64"}}}, nil
}
func (fakeEngine) Ping(context.Context) error { return nil }
func (fakeEngine) Build(_ context.Context, req engine.NodeBuild) ([]engine.PlatformImage, error) {
	var out []engine.PlatformImage
	for _, p := range req.Platforms {
		out = append(out, engine.PlatformImage{Platform: p, ImageID: "sha256:" + strings.Repeat("a", 64)})
	}
	return out, nil
}
func (fakeEngine) Push(context.Context, string, string, engine.PushOptions) error { return nil }
func (fakeEngine) Export(_ context.Context, _ string, w io.Writer) error {
	_, err := io.WriteString(w, "not an image archive")
	return err
}
func (fakeEngine) Existing(context.Context, []string) ([]string, error) { return nil, nil }
func (fakeEngine) Remove(context.Context, []string) error               { return nil }
func (fakeEngine) Close() error                                         { return nil }

// fakeOpener opens a fake engine for every link; nodes whose name starts
// with "arm" are native arm64.
func fakeOpener(_ context.Context, l engine.Link) (engine.Builder, error) {
	p := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	if strings.HasPrefix(l.Node(), "arm") {
		p.Architecture = "arm64"
	}
	return fakeEngine{native: p}, nil
}

func TestDryRunWithInjectedEngines(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	mustCLI(t, "connection", "add", "arm1", "unix:///nonexistent/arm1.sock")
	mustCLI(t, "create", "f", "amd1", "arm1")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	out, errOut, err := farmCLIWith(t, fakeOpener, "build", "--dry-run", "--platforms", "linux/amd64,linux/arm64", "-t", "x:1", dir)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, errOut)
	}
	for _, want := range []string{"linux/amd64  amd1  native", "linux/arm64  arm1  native"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	out, _, err = farmCLIWith(t, fakeOpener, "status")
	// EMULATED is written as NATIVE is, and as --platforms takes it.
	if err != nil || !regexp.MustCompile(`(?m)^amd1\s+ok\s+fake 1.0\s+linux/amd64(,linux/386)?\s+linux/arm64\s`).MatchString(out) {
		t.Errorf("status with fake engines: %v\n%s", err, out)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An output that fails after every platform built exits 4, and the
// metadata file says so.
func TestOutputFailureExits4(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "FROM scratch\n")
	meta := t.TempDir() + "/meta.json"
	_, _, err := farmCLIWith(t, fakeOpener, "build", "--platforms", "linux/amd64", "--metadata-file", meta,
		"--output", "type=oci,dest="+t.TempDir()+"/layout", "-t", "x:1", dir)
	if ExitCode(err) != exitOutput || !strings.Contains(OneLine(err), "storing the result failed") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	var md buildMetadata
	data, _ := os.ReadFile(meta)
	if json.Unmarshal(data, &md) != nil || md.Success || md.ExitCode != exitOutput || md.Error == "" || len(md.Platforms) != 1 || md.Platforms[0].ImageID == "" {
		t.Errorf("metadata of a failed build: %s", data)
	}
}
