// Package podman drives a podman engine through podman's own API bindings,
// over a farm connection.
package podman

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/blang/semver/v4"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/system"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/platform"
)

// Kind is the engine kind this package drives.
const Kind = "podman"

var (
	_ engine.Builder = (*Engine)(nil)
	_ engine.Tester  = (*Engine)(nil)
)

// Engine is a podman engine reached through a farm connection.
type Engine struct {
	conn engine.Link
	// values carries the bindings connection; calls take their
	// cancellation from their own context and only values from this one.
	values context.Context
	dir    string
	stop   func()
	// graphRoot is the node's image store, for finding a canceled build's
	// processes.
	graphRoot string
	// graphDriver is the store's driver (overlay, vfs...), which names
	// its containers' directory.
	graphDriver string
	// major is the server's major version (0 until Info has run), version
	// the whole of it.
	major   uint64
	version semver.Version
	// noLocalBuild is set once the server answered that it has no
	// /libpod/local/build.
	noLocalBuild atomic.Bool
	// finishing are the clean-ups of build calls' directories on the node.
	finishing sync.WaitGroup
}

// New connects podman's bindings to the engine behind conn. The bindings
// can only dial a socket path, so an SSH connection is served on a private
// local socket; farm's own strict SSH carries it.
func New(ctx context.Context, conn engine.Link) (*Engine, error) {
	dir, err := os.MkdirTemp("", "farm-podman-")
	if err != nil {
		return nil, err
	}
	path, stop, err := conn.Forward(context.Background(), dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e := &Engine{conn: conn, dir: dir, stop: stop}
	values, err := bindings.NewConnection(withValues(ctx, context.Background()), "unix://"+path)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("podman API on %s: %w", conn.Node(), err)
	}
	e.values = context.WithoutCancel(values)
	// Build calls that use the node's context cache are rewritten on
	// their way (see rewriter); the connection is not in use yet.
	if c, err := bindings.GetClient(e.values); err == nil && c.Client != nil {
		c.Client.Transport = rewriter{base: c.Client.Transport}
	}
	return e, nil
}

// Close waits for the clean-ups on the node and stops the local
// forwarding.
func (e *Engine) Close() error {
	e.finishing.Wait()
	e.stop()
	return os.RemoveAll(e.dir)
}

// ctx returns a context with ctx's cancellation and the bindings' values.
func (e *Engine) ctx(ctx context.Context) context.Context {
	return withValues(ctx, e.values)
}

// Info reports podman's facts. Servers from 5.6 on report the
// architectures they emulate; older ones leave that to binfmt_misc.
func (e *Engine) Info(ctx context.Context) (engine.EngineInfo, error) {
	info, err := system.Info(e.ctx(ctx), nil)
	if err != nil {
		return engine.EngineInfo{}, fmt.Errorf("podman info on %s: %w", e.conn.Node(), err)
	}
	out := engine.EngineInfo{Kind: Kind}
	if info.Version.Version != "" {
		out.Version = info.Version.Version
		out.APIVersion = info.Version.APIVersion
	}
	if info.Host != nil {
		out.Native = platform.FromEngine(info.Host.OS, info.Host.Arch, info.Host.Variant)
		out.CPUs = info.Host.CPUs
		out.MemoryBytes = info.Host.MemTotal
		v, err := semver.ParseTolerant(out.Version)
		if err == nil {
			e.major, e.version = v.Major, v
		}
		if err == nil && v.GTE(semver.Version{Major: 5, Minor: 6}) {
			out.EmulationReported = true
			out.Emulated = parseEmulated(info.Host.OS, info.Host.EmulatedArchitectures)
		}
	}
	if info.Store != nil {
		out.StorageRoot = info.Store.GraphRoot
		e.graphRoot = info.Store.GraphRoot
		e.graphDriver = info.Store.GraphDriverName
	}
	// Build (external) containers are the builds in progress.
	if running, err := e.buildContainers(ctx); err == nil {
		out.RunningBuilds = len(running)
	}
	return out, nil
}

// parseEmulated reads podman's emulatedArchitectures ("linux/arm64" or "arm64").
func parseEmulated(os string, archs []string) []ocispec.Platform {
	var out []ocispec.Platform
	for _, a := range archs {
		if !strings.Contains(a, "/") {
			a = os + "/" + a
		}
		if p, err := platform.Parse(a); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Socket is the engine's API socket path on its host.
func (e *Engine) Socket() string { return e.conn.Socket() }

// Ping checks once that the engine answers.
func (e *Engine) Ping(ctx context.Context) error {
	conn, err := bindings.GetClient(e.values)
	if err != nil {
		return err
	}
	resp, err := conn.DoRequest(e.ctx(ctx), nil, http.MethodGet, "/_ping", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("podman on %s answered /_ping with %s", e.conn.Node(), resp.Status)
	}
	return nil
}
