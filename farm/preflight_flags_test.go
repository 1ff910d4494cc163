package farm

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
)

// refusingEngine is a testing engine that cannot squash.
type refusingEngine struct{ testingEngine }

func (*refusingEngine) Unsupported(_ engine.EngineInfo, in engine.Instructions) []engine.Refusal {
	if in.Squash {
		return []engine.Refusal{{Flag: "--squash", Why: "cannot squash", Fix: "drop it or build on podman nodes"}}
	}
	return nil
}

// A flag a node cannot honour stops the build before any starts: a usage
// error naming the flag and the node.
func TestBuildRefusesAFlagANodeCannotHonour(t *testing.T) {
	e := &refusingEngine{testingEngine{fakeBuilder: fakeBuilder{name: "n"}}}
	if err := buildOn(t, e, BuildOptions{}); err != nil || len(e.containerfiles) != 1 {
		t.Fatalf("without the flag the node builds: %v", err)
	}
	e.containerfiles = nil
	err := buildOn(t, e, BuildOptions{Instructions: engine.Instructions{Squash: true}})
	if !errors.Is(err, errdefs.ErrUsage) || err.Error() != "bad usage: --squash: fake node n cannot squash: drop it or build on podman nodes" {
		t.Errorf("err = %v", err)
	}
	if len(e.containerfiles) != 0 {
		t.Errorf("%d builds started", len(e.containerfiles))
	}
}

// Every node able to build one of the platforms is asked, whether the
// plan picked it or not; the others are not.
func TestCheckFlagsAsksTheNodesThatCouldBuild(t *testing.T) {
	refuser := &refusingEngine{}
	squash := engine.Instructions{Squash: true}
	amdOnly := &Node{Name: "d1", Builder: refuser, Info: engine.EngineInfo{Kind: "docker", Native: amd64}}
	if err := checkFlags([]*Node{amdOnly}, []ocispec.Platform{arm64}, squash); err != nil {
		t.Errorf("a node that cannot build arm64 is not asked: %v", err)
	}
	amdOnly.Emulated = []ocispec.Platform{arm64}
	if err := checkFlags([]*Node{amdOnly}, []ocispec.Platform{arm64}, squash); err == nil {
		t.Error("a node that emulates arm64 may get it, and is asked")
	}
	if err := checkFlags([]*Node{amdOnly}, nil, squash); err == nil {
		t.Error("with no platforms named, every node may build")
	}
	if err := checkFlags([]*Node{amdOnly}, nil, engine.Instructions{}); err != nil {
		t.Errorf("no flag, no refusal: %v", err)
	}
}

// buildOn builds linux/amd64 and linux/arm64 on one node of b.
func buildOn(t *testing.T, b engine.Builder, opts BuildOptions) error {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM scratch\n"), 0o644))
	var stored []string
	opts.ContextDir, opts.Platforms, opts.Tags = dir, []ocispec.Platform{amd64, arm64}, []string{"x:1"}
	opts.Output, opts.Logger = recordingOutput{stored: &stored}, slog.New(slog.DiscardHandler)
	open := func(context.Context, engine.Link) (engine.Builder, error) { return b, nil }
	_, err := Build(context.Background(), []config.Connection{{Name: "n", URI: "unix:///nonexistent/n.sock"}}, open, opts)
	return err
}
