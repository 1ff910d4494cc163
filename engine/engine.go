// Package engine is the contract between farm and the engine drivers in
// builders/: what farm needs from a node's container engine, the data it
// passes, and the optional abilities an engine may have. It reaches a node
// only through Link, a small interface the transport satisfies.
package engine

import (
	"context"
	"io"
	"net"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/buildcontext"
)

// Builder is what farm needs from every node's container engine. The
// implementations live in the builders packages, one per engine kind.
// Abilities not every engine has are optional interfaces (Tester).
type Builder interface {
	// Info reports the engine's facts.
	Info(ctx context.Context) (EngineInfo, error)
	// Ping checks once that the engine answers.
	Ping(ctx context.Context) error
	// Build builds every platform of the request from one upload of the
	// context. It returns the images of the platforms that were built and,
	// for the others, *errdefs.BuildError values joined into the error.
	// What the engine itself reported is an *errdefs.EngineError inside.
	Build(ctx context.Context, req NodeBuild) ([]PlatformImage, error)
	// Push pushes an image to a registry reference (host/repo:tag).
	Push(ctx context.Context, imageID, ref string, opts PushOptions) error
	// Export writes the image as the archive the engine makes of it: an
	// OCI archive (podman) or a docker-save archive (docker); package
	// manifest reads both.
	Export(ctx context.Context, imageID string, w io.Writer) error
	// Existing returns those of the images (names or IDs) that are on
	// the node.
	Existing(ctx context.Context, images []string) ([]string, error)
	// Remove removes what farm put on the node: the names it gave images
	// (PlatformImage.Ref) and the layer images its builds created (by ID).
	// Nothing is forced: an image that another name, a child or a
	// container still uses stays, and a name in CachedRepo is only
	// untagged. Images already gone are no error.
	Remove(ctx context.Context, images []string) error
	// Close releases the connection to the engine.
	Close() error
}

// Tester is a Builder that can run a command in a built image (--test).
type Tester interface {
	// Test runs a shell command in a new container of the image and
	// returns its exit code; log receives its output lines.
	Test(ctx context.Context, imageID, cmd string, log func(string)) (int, error)
}

// BaseInspector is a Builder that can say which image a FROM reference
// named on the node after a build.
type BaseInspector interface {
	// BaseDigest returns the manifest digest of the node's image for ref
	// ("" when the engine does not know it).
	BaseDigest(ctx context.Context, ref string) (string, error)
}

// Link is what an engine driver needs of the connection to its node;
// *transport.Conn is one.
type Link interface {
	// Node is the connection's name, for messages.
	Node() string
	// Socket is the engine's API socket path on the node.
	Socket() string
	// DialEngine opens a stream to the engine's API socket.
	DialEngine(ctx context.Context) (net.Conn, error)
	// Forward serves the engine's socket on a new local socket in dir and
	// returns its path and a function that stops it.
	Forward(ctx context.Context, dir string) (string, func(), error)
	// Run runs a POSIX shell script on the node and returns its output.
	Run(ctx context.Context, script string) ([]byte, error)
	// Sent counts the bytes that went to the node: to the engine through
	// DialEngine or Forward, and to scripts as their input.
	Sent() int64
}

// Opener opens the engine behind a link, finding out from its API
// whether it is podman or docker.
type Opener func(ctx context.Context, l Link) (Builder, error)

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
	// RunningBuilds counts the builds running on the engine now.
	RunningBuilds int
}

// NodeBuild is the part of a build one node carries out.
type NodeBuild struct {
	// ContextDir is the local build context directory.
	ContextDir string
	// Containerfile is the path of the Containerfile on the client.
	Containerfile string
	// Excludes are the build's ignore patterns (package containerfile
	// reads them once for all engines); nil means the engine's own choice.
	Excludes []string
	// Snapshot is the context listed once for the whole build, from which
	// a driver that keeps contexts on its node sends only what the node
	// lacks; nil when the whole context is to be sent.
	Snapshot *buildcontext.Snapshot
	// Platforms are the platforms this node builds.
	Platforms []ocispec.Platform
	// Instructions say how to build, the same for every node.
	Instructions
	// AuthFile holds only the credentials this node needs ("" for none).
	AuthFile string
	// ClientID is the client's secret random ID (farm.ClientID), which a
	// driver combines with the context directory into the key under which
	// the engine keeps the context between builds; "" for none.
	ClientID string
	// Log receives each output line with the platform it belongs to
	// (nil platform for lines that belong to none).
	Log func(platform *ocispec.Platform, line string)
}

// Instructions say how to build: the parts of a build that are the same
// on every node.
type Instructions struct {
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Labels and Annotations are KEY=VALUE strings.
	Labels, Annotations []string
	// Target is the stage to build.
	Target string
	// Network is the RUN steps' network: "" (the engine's default),
	// "host", "none" or the name of a network on the node.
	Network string
	// NoCache disables the layer cache.
	NoCache bool
	// Pull is the pull policy: "", "always", "missing", "never" or "newer".
	Pull string
	// Secrets are --secret values (id=ID,src=PATH), sent with the context.
	Secrets []string
	// TLSVerify, when set, says whether registries need TLS verification.
	TLSVerify *bool
	// Format is the image format: "oci" or "docker".
	Format string

	// KeepContainers keeps the intermediate containers of a build that
	// succeeded (--rm=false); KeepFailedContainers keeps them when it
	// failed (--force-rm=false).
	KeepContainers, KeepFailedContainers bool
	// ShmSize is the size of the RUN steps' /dev/shm in bytes (0: the
	// engine's default).
	ShmSize int64
	// Ulimits are the RUN steps' limits, TYPE=SOFT[:HARD] (--ulimit).
	Ulimits []string
	// Memory and MemorySwap limit the RUN steps' memory and memory plus
	// swap in bytes (0: no limit set; MemorySwap -1: unlimited swap).
	Memory, MemorySwap int64
	// CPUShares, CPUQuota and CPUPeriod are the RUN steps' CPU weight and
	// CFS quota and period in microseconds (0: not set).
	CPUShares, CPUQuota, CPUPeriod int64
	// CPUSetCPUs and CPUSetMems are the CPUs and memory nodes the RUN
	// steps may use ("0-3,5").
	CPUSetCPUs, CPUSetMems string
	// CgroupParent is the cgroup the RUN steps' containers are made in.
	CgroupParent string
	// CacheFrom and CacheTo are registry repositories the layer cache is
	// read from and written to (--cache-from, --cache-to).
	CacheFrom, CacheTo []string
	// AddHosts are extra /etc/hosts entries of the RUN steps, HOST:IP.
	AddHosts []string
	// Layers, when set, says whether intermediate images are cached
	// (--layers); nil means yes, unless SquashAll.
	Layers *bool
	// Squash squashes the layers the build adds into one (--squash);
	// SquashAll squashes every layer, the base's too (--squash-all).
	Squash, SquashAll bool
	// Env are environment variables set in the image (KEY=VALUE), UnsetEnv
	// the names of those removed from it (--env, --unsetenv).
	Env, UnsetEnv []string
	// Volumes bind-mount paths of the node into the RUN steps,
	// NODE-PATH:CONTAINER-PATH[:OPTIONS] (--volume).
	Volumes []string
	// SecurityOpts are the RUN steps' label=, apparmor= and seccomp=
	// options (--security-opt).
	SecurityOpts []string
	// CapAdd and CapDrop are capabilities added to and dropped from the
	// RUN steps.
	CapAdd, CapDrop []string
	// DNSServers, DNSOptions and DNSSearch set the RUN steps'
	// resolv.conf.
	DNSServers, DNSOptions, DNSSearch []string
	// BuildContexts are the additional build contexts by name
	// (--build-context NAME=VALUE): images as docker-image://REF, or URLs.
	BuildContexts map[string]string
	// Retry is how often a failing pull is retried (nil: farm's default,
	// 3, as podman's); RetryDelay the pause between tries (0: 2s).
	Retry      *int
	RetryDelay time.Duration
	// SourceDateEpoch sets the image's timestamps and SOURCE_DATE_EPOCH
	// for the build (--source-date-epoch); Timestamp sets the created
	// time of the image and its layers' files (--timestamp).
	SourceDateEpoch, Timestamp *time.Time
	// IdentityLabel, when set, says whether the image gets the builder's
	// identity label (io.buildah.version).
	IdentityLabel *bool
}

// PlatformImage is one platform's image built on a node.
type PlatformImage struct {
	// Platform is the requested platform.
	Platform ocispec.Platform
	// ImageID is the engine's full image ID, as the engine's API (never
	// the build's output) reports it.
	ImageID string
	// Ref is the name farm gave the image on the node, unique to this
	// build: in HoldRepo when the build created the image, in CachedRepo
	// when the engine's cache already held it. farm reaches and removes
	// the image only through it.
	Ref string
	// Intermediate are the full IDs of the layer images this build
	// created on the way (cache hits excluded), found through the
	// engine's parent links.
	Intermediate []string
}

// HoldRepo and CachedRepo are the repositories of the names farm gives
// the images it builds on a node (PlatformImage.Ref). An image the build
// created is held in HoldRepo until farm prune or --cleanup removes it;
// an image the engine's cache already had (another user's, maybe) gets a
// name in CachedRepo, which farm only ever untags.
const (
	HoldRepo   = "localhost/farm-build"
	CachedRepo = "localhost/farm-cached"
)

// PushOptions control Builder.Push.
type PushOptions struct {
	// Username and Password are the credentials for the one registry pushed to.
	Username, Password string
	// TLSVerify, when set, says whether the registry needs TLS verification.
	TLSVerify *bool
	// Format is "oci" or "docker" ("" keeps the image's).
	Format string
	// Compression is how the layers are compressed on the way, where the
	// engine lets its client choose (podman does; docker always pushes
	// gzip at its default level).
	Compression Compression
}

// Compression is how an engine compresses the layers it pushes.
type Compression struct {
	// Format is "gzip" or "zstd"; "" is the engine's default (gzip).
	Format string
	// Level is the format's level where the engine takes one (podman
	// 4.6 and later); 0 is the format's default.
	Level int
	// Only, when set, has the engine send every layer in Format, even
	// one the registry already holds in another (podman 4.7 and later
	// honour it); unset, a copy in any format will do.
	Only bool
}
