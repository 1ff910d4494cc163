package farm

import (
	"context"
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/transport"
)

// Node is an open node: its connection, its engine, and the facts that
// scheduling and `farm status` need.
type Node struct {
	// Name is the connection's name.
	Name string
	// Conn is the open connection.
	Conn *transport.Conn
	// Builder drives the node's engine.
	Builder engine.Builder
	// Info are the engine's facts.
	Info engine.EngineInfo
	// Emulated are the platforms the node runs under emulation (without
	// its native platform).
	Emulated []ocispec.Platform
	// Compatible are the platforms the node's CPU also runs natively, in
	// a 32-bit mode (probed: linux/386 on amd64, linux/arm/v7 on arm64).
	Compatible []ocispec.Platform
	// EmulationSource is "engine" or "binfmt_misc".
	EmulationSource string
}

// OpenNode connects to c, opens its engine and gathers its facts.
func OpenNode(ctx context.Context, c config.Connection, open engine.Opener) (*Node, error) {
	conn, err := transport.Connect(ctx, c.Name, c.URI, c.Identity)
	if err != nil {
		return nil, err
	}
	b, err := open(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	n := &Node{Name: c.Name, Conn: conn, Builder: b}
	if n.Info, err = b.Info(ctx); err != nil {
		n.Close()
		return nil, err
	}
	emulated, source := n.Info.Emulated, "engine"
	if !n.Info.EmulationReported {
		emulated, source = HostEmulation(ctx, conn), "binfmt_misc"
	}
	n.EmulationSource = source
	if out, err := conn.Run(ctx, platform.CompatScript); err == nil {
		n.Compatible = platform.ParseCompat(n.Info.Native, out)
	}
	for _, p := range emulated {
		if !platform.Satisfies(n.Info.Native, p) {
			n.Emulated = append(n.Emulated, p)
		}
	}
	if err := ctx.Err(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close closes the engine and the connection.
func (n *Node) Close() error {
	if n.Conn == nil {
		return n.Builder.Close()
	}
	return errors.Join(n.Builder.Close(), n.Conn.Close())
}
