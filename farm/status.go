package farm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/transport"
)

// NodeStatus is what `farm status` reports for one node.
type NodeStatus struct {
	// Name is the connection's name.
	Name string `json:"name"`
	// URI is the connection's URI.
	URI string `json:"uri"`
	// Reachable is true when the engine answered.
	Reachable bool `json:"reachable"`
	// Error says why the node is not reachable.
	Error string `json:"error,omitempty"`
	// Kind is "podman" or "docker".
	Kind string `json:"kind,omitempty"`
	// Version is the engine's version.
	Version string `json:"version,omitempty"`
	// Native is the platform the node builds natively.
	Native string `json:"native,omitempty"`
	// Compatible are the platforms the node's CPU also runs natively, in a
	// 32-bit mode it was probed for (linux/386 on amd64, linux/arm/v7 on
	// arm64).
	Compatible []string `json:"compatible,omitempty"`
	// Emulated are the platforms the node builds under emulation.
	Emulated []string `json:"emulated"`
	// EmulationSource says where Emulated comes from: "engine" or "binfmt_misc".
	EmulationSource string `json:"emulationSource,omitempty"`
	// CPUs is the node's CPU count.
	CPUs int `json:"cpus,omitempty"`
	// MemoryBytes is the node's total memory.
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
	// StorageRoot is where the engine stores images.
	StorageRoot string `json:"storageRoot,omitempty"`
	// FreeBytes is the free space under StorageRoot; -1 when unknown.
	FreeBytes int64 `json:"freeBytes"`
}

// StatusOptions tune Status.
type StatusOptions struct {
	// Timeout bounds the inquiry of each node; zero means 20 seconds.
	Timeout time.Duration
	// Parallel bounds how many nodes are asked at once; zero means 100,
	// so that a farm of a hundred machines is asked all at once.
	Parallel int
	// OnNode, when set, gets each node's status as soon as it is known
	// (one call at a time, in the order the answers come).
	OnNode func(NodeStatus)
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
}

// Status asks every connection's node for its facts, in parallel. Every
// node gets a NodeStatus in the order of conns; a node that cannot be
// reached is reported as such and the returned error wraps ErrNodeDown.
func Status(ctx context.Context, conns []config.Connection, open engine.Opener, opts StatusOptions) ([]NodeStatus, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.Parallel == 0 {
		opts.Parallel = 100
	}
	var onNode sync.Mutex
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := make([]NodeStatus, len(conns))
	var g errgroup.Group
	g.SetLimit(opts.Parallel)
	for i, c := range conns {
		g.Go(func() error {
			nctx, cancel := context.WithTimeout(ctx, opts.Timeout)
			defer cancel()
			out[i] = nodeStatus(nctx, c, open)
			if nctx.Err() != nil && !out[i].Reachable {
				out[i].Error = fmt.Sprintf("no answer within %s: %s", opts.Timeout, out[i].Error)
			}
			log.Debug("node status", "node", c.Name, "reachable", out[i].Reachable, "error", out[i].Error)
			if opts.OnNode != nil {
				onNode.Lock()
				opts.OnNode(out[i])
				onNode.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	var errs []error
	for _, s := range out {
		if !s.Reachable {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, errdefs.ErrNodeDown))
		}
	}
	return out, errors.Join(errs...)
}

func nodeStatus(ctx context.Context, c config.Connection, open engine.Opener) NodeStatus {
	s := NodeStatus{Name: c.Name, URI: transport.Redact(c.URI), FreeBytes: -1, Emulated: []string{}}
	n, err := OpenNode(ctx, c, open)
	if err != nil {
		s.Error = err.Error()
		return s
	}
	defer n.Close()
	info := n.Info
	s.Reachable = true
	s.URI = n.Conn.Dest.String()
	s.Kind, s.Version = info.Kind, info.Version
	s.Native = platform.Format(info.Native)
	s.CPUs, s.MemoryBytes, s.StorageRoot = info.CPUs, info.MemoryBytes, info.StorageRoot
	s.EmulationSource = n.EmulationSource
	for _, p := range n.Compatible {
		s.Compatible = append(s.Compatible, platform.Format(p))
	}
	for _, p := range n.Emulated {
		s.Emulated = append(s.Emulated, platform.Format(p))
	}
	if info.StorageRoot != "" {
		s.FreeBytes = FreeSpace(ctx, n.Conn, info.StorageRoot)
	}
	return s
}

// HostEmulation reads binfmt_misc on the node's host and returns the
// platforms it can run under emulation. Errors mean no emulation.
func HostEmulation(ctx context.Context, conn *transport.Conn) []ocispec.Platform {
	out, err := conn.Run(ctx, platform.BinfmtScript)
	if err != nil {
		return nil
	}
	return platform.ParseBinfmt(out)
}

// FreeSpace returns the bytes available under dir on the node's host, or
// -1 when that cannot be found out.
func FreeSpace(ctx context.Context, conn *transport.Conn, dir string) int64 {
	out, err := conn.Run(ctx, "df -Pk -- "+transport.ShellQuote(dir)+" | awk 'NR==2 {print $4}'")
	if err != nil {
		return -1
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return -1
	}
	return kb * 1024
}
