package farm

import (
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/schedule"
)

// DefaultFactsMaxAge is how long a node's known facts are used without
// contacting it when BuildOptions.FactsMaxAge is zero.
const DefaultFactsMaxAge = time.Hour

// NodeFacts are what farm learns about a node by opening it, and what a
// build plans with.
type NodeFacts struct {
	Kind    string           `json:"kind"`
	Version string           `json:"version"`
	Native  ocispec.Platform `json:"native"`
	// Compatible are the platforms the CPU also runs natively (Node.Compatible).
	Compatible []ocispec.Platform `json:"compatible,omitempty"`
	// Emulated are the platforms run under emulation, and EmulationSource
	// where that comes from ("engine" or "binfmt_misc").
	Emulated        []ocispec.Platform `json:"emulated,omitempty"`
	EmulationSource string             `json:"emulationSource,omitempty"`
	CPUs            int                `json:"cpus"`
	MemoryBytes     int64              `json:"memoryBytes"`
	StorageRoot     string             `json:"storageRoot,omitempty"`
}

// KnownNode is what the caller knows of a connection from earlier runs
// (cmd keeps it in the records).
type KnownNode struct {
	// URI is the connection's URI when the facts were seen: facts of
	// another URI are not used.
	URI string
	// Identity is the node's host key fingerprint and socket
	// (transport.Conn.Identity) when the facts were seen.
	Identity string
	Facts    NodeFacts
	// Seen is when the facts were learned.
	Seen time.Time
	// LastFailure is when the node last could not be opened.
	LastFailure time.Time
}

// ObservedNode is what a build or a plan learned by contacting a node,
// for the caller to keep.
type ObservedNode struct {
	Name     string    `json:"name"`
	URI      string    `json:"uri"`
	Identity string    `json:"identity,omitempty"`
	Facts    NodeFacts `json:"facts"`
	// Seen is when the facts were learned; zero when the node could not
	// be opened.
	Seen time.Time `json:"seen,omitzero"`
	// Failed is when the node could not be opened, and Error why.
	Failed time.Time `json:"failed,omitzero"`
	Error  string    `json:"error,omitempty"`
}

// FactsOf returns the facts of an open node.
func FactsOf(n *Node) NodeFacts {
	return NodeFacts{Kind: n.Info.Kind, Version: n.Info.Version, Native: n.Info.Native, Compatible: n.Compatible,
		Emulated: n.Emulated, EmulationSource: n.EmulationSource, CPUs: n.Info.CPUs, MemoryBytes: n.Info.MemoryBytes,
		StorageRoot: n.Info.StorageRoot}
}

// samePlatforms reports whether two sets of facts schedule alike: the
// same native, compatible and emulated platforms.
func samePlatforms(a, b NodeFacts) bool {
	eq := func(x, y []ocispec.Platform) bool {
		return slices.EqualFunc(x, y, func(p, q ocispec.Platform) bool { return platform.Format(p) == platform.Format(q) })
	}
	return platform.Format(a.Native) == platform.Format(b.Native) && eq(a.Compatible, b.Compatible) && eq(a.Emulated, b.Emulated)
}

// scheduleNode is what the scheduler weighs about one node.
func scheduleNode(name string, f NodeFacts, running int, opts BuildOptions) schedule.Node {
	return schedule.Node{Name: name, Native: f.Native, Compatible: f.Compatible, Emulated: f.Emulated, CPUs: f.CPUs,
		Running: running, Weight: opts.Weights[name], History: opts.History[name]}
}

// couldBuild reports whether a node of these facts builds one of the
// platforms, natively or emulated; every node may when none is named.
func couldBuild(f NodeFacts, platforms []ocispec.Platform) bool {
	return canBuildAny(&Node{Info: engine.EngineInfo{Native: f.Native}, Emulated: f.Emulated}, platforms)
}
