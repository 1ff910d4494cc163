package farm

import (
	"context"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Builder is what farm needs from a node's container engine. The
// implementations live in the builders packages, one per engine kind.
type Builder interface {
	// Info reports the engine's facts.
	Info(ctx context.Context) (EngineInfo, error)
	// Close releases the connection to the engine.
	Close() error
}

// Opener opens the engine behind a connection, finding out from its API
// whether it is podman or docker.
type Opener func(ctx context.Context, c *Conn) (Builder, error)

// EngineInfo are the facts an engine reports about itself and its host.
type EngineInfo struct {
	// Kind is "podman" or "docker".
	Kind string
	// Version is the engine's version.
	Version string
	// APIVersion is the API version spoken with the engine.
	APIVersion string
	// Native is the platform the host's CPU runs natively.
	Native ocispec.Platform
	// Emulated are the platforms the engine says it emulates; meaningful
	// only when EmulationReported is true.
	Emulated []ocispec.Platform
	// EmulationReported is true when the engine reports emulation itself
	// (podman 5.6 and later); otherwise binfmt_misc is read from the host.
	EmulationReported bool
	// CPUs is the host's CPU count.
	CPUs int
	// MemoryBytes is the host's total memory.
	MemoryBytes int64
	// StorageRoot is the directory where the engine stores images.
	StorageRoot string
}
