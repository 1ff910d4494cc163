package farm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"

	"time"

	"go.podman.io/image/v5/types"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/buildcontext"
	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/platform"
)

// BuildOptions describe one farm build.
type BuildOptions struct {
	// ContextDir is the build context directory.
	ContextDir string
	// Containerfile is the Containerfile's path ("" for the context's
	// Containerfile, else Dockerfile).
	Containerfile string
	// IgnoreFile replaces the context's .containerignore/.dockerignore.
	IgnoreFile string
	// Platforms to build; empty means every platform the farm builds natively.
	Platforms []ocispec.Platform
	// Tags name the result; the first names the local list.
	Tags []string
	// Instructions go to every node's build as they are.
	engine.Instructions
	// AuthFile is the client's auth file ("" for the default locations).
	AuthFile string
	// KeepGoing lets the other platforms finish when one fails.
	KeepGoing bool
	// PinBase resolves every FROM image once, on the client, to a digest,
	// and has every node build from exactly that digest.
	PinBase bool
	// Tests are shell commands run in every built image, on a node of its
	// platform, before anything is stored or pushed; one failing stops it.
	Tests []string
	// AllowPartial stores the result of the platforms that succeeded even
	// when others failed; BuildResult.Missing lists the others.
	AllowPartial bool
	// Cleanup removes the built images from the nodes afterwards.
	Cleanup bool
	// Output is where the result goes: Push, OCILayout or Local.
	Output Output
	// StoreDir is the client's blob store, through which images come back
	// for every output.
	StoreDir string
	// StoreMax bounds the blob store: after a build, the least recently
	// used blobs beyond it are removed (when no other build uses the
	// store). Zero leaves it unbounded.
	StoreMax int64
	// ClientID is this client's ID (ClientID), for the engines that keep
	// a build context between builds; "" makes each build's key new.
	ClientID string
	// ContextSpool is where the context's files, compressed once for all
	// the nodes that lack them, are kept during the build ("" keeps none:
	// they are compressed for each node).
	ContextSpool string
	// NoContextCache sends every node the whole context, as podman does,
	// instead of what the node's context cache lacks.
	NoContextCache bool
	// Weights are the user's node weights (connection update --weight).
	Weights map[string]float64
	// History holds, per node and platform, how long the last build took
	// (records.Durations); the scheduler weighs it.
	History map[string]map[string]time.Duration
	// Timeout bounds each platform's build; zero means no limit.
	Timeout time.Duration
	// ConnectTimeout bounds opening each node; zero means 20 seconds.
	ConnectTimeout time.Duration
	// KnownNodes are the facts known of the connections from earlier
	// runs, by connection name: fresh ones are planned with without
	// contacting the node, which is opened only when the plan uses it.
	KnownNodes map[string]KnownNode
	// FactsMaxAge is how old known facts may be to be used; zero means
	// DefaultFactsMaxAge. A node that failed within it and is not needed
	// is tried last.
	FactsMaxAge time.Duration
	// Linked are named contexts that are other builds' results: each
	// platform is built on the node that holds its linked images.
	Linked Linked
	// Pins, when set, names the node to build each platform on (by
	// platform.Format): the plan of a whole bake run. A platform whose
	// node cannot be reached, or cannot build it, is planned as usual,
	// and a node that dies during the build is replaced as usual.
	Pins map[string]string
	// Pool, when set, keeps the nodes the build opens open for the
	// builds after it, and gives it those they opened; its owner closes
	// them.
	Pool *NodePool
	// Engines, when set, limits the build to the nodes of these engine
	// kinds ("podman", "docker"): those that can give its result to a
	// build that names it as a context.
	Engines []string
	// Progress receives the build's events (output lines included); nil
	// discards them.
	Progress Progress
	// Logger receives progress and warnings; nil discards them.
	Logger *slog.Logger
}

// PlatformResult is the outcome of one platform.
type PlatformResult struct {
	Platform string        `json:"platform"`
	Node     string        `json:"node"`
	Emulated bool          `json:"emulated"`
	ImageID  string        `json:"imageID,omitempty"`
	Digest   string        `json:"digest,omitempty"`
	Duration time.Duration `json:"duration"`
	// Attempts counts the builds of this platform (more than one when a
	// node died or a connection broke).
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
	// Bases maps each FROM image to the manifest digest pinned for this
	// platform (with PinBase).
	Bases map[string]string `json:"bases,omitempty"`

	// ImageRef is the name farm gave the image on its node, the only
	// handle by which farm removes it.
	ImageRef string `json:"imageRef,omitempty"`
	// NodeID is the identity of the node that built it (host key and
	// socket), by which farm prune finds it again.
	NodeID string `json:"nodeID,omitempty"`

	platform ocispec.Platform
	// Intermediate are the layer images the build created, for prune.
	Intermediate []string `json:"-"`
	// Engine and EngineVersion are the kind ("podman", "docker") and
	// version of the engine of the node that built it last.
	Engine        string `json:"engine,omitempty"`
	EngineVersion string `json:"engineVersion,omitempty"`
}

// BuildResult is the outcome of a farm build.
type BuildResult struct {
	// Platforms are per platform, in the order requested.
	Platforms []PlatformResult `json:"platforms"`
	// Index is the assembled result; empty when the build failed.
	Index manifest.Result `json:"index"`
	// Missing are the platforms left out of a partial result (AllowPartial).
	Missing []string `json:"missing,omitempty"`
	// Nodes are the nodes this build contacted and what it learned of
	// them, for the caller to keep as KnownNodes.
	Nodes []ObservedNode `json:"-"`
}

// Build builds opts.Platforms on the farm made of conns and assembles the
// multi-arch result. Unreachable nodes are left out with a warning as long
// as the others can serve every platform. Nothing is output unless every
// platform succeeded; the returned error then joins the *BuildError of
// each failed platform.
func Build(ctx context.Context, conns []config.Connection, open engine.Opener, opts BuildOptions) (*BuildResult, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	req, err := prepare(&opts)
	if err != nil {
		return nil, err
	}
	opts.Logger = log
	planner, plan, err := openAndPlan(ctx, conns, open, opts)
	if err != nil {
		return nil, err
	}
	defer planner.close()
	nodes := planner.openNodes()
	for _, j := range plan.Jobs {
		log.Info("scheduled", "platform", platform.Format(j.Platform), "node", j.Node, "why", j.Reason)
	}
	tmp, err := os.MkdirTemp("", "farm-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if req.Containerfile, err = stableContainerfile(req.Containerfile, tmp); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(req.Containerfile)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", req.Containerfile, err)
	}
	// CheckContainerfile did this before any node was contacted, but for
	// a piped Containerfile, which can be read only once.
	if err := checkContainerfileData(req.Containerfile, data); err != nil {
		return nil, err
	}
	cf := containerfile.Parse(data, req.BuildArgs)
	regs := cf.Registries()
	if req.AuthFile, err = WriteAuthSubset(tmp, opts.AuthFile, regs); err != nil {
		return nil, err
	}
	var pins []pinnedBase
	if opts.PinBase {
		want := make([]ocispec.Platform, len(plan.Jobs))
		for i, j := range plan.Jobs {
			want[i] = j.Platform
		}
		if req.Containerfile, pins, err = pinBases(ctx, req.Containerfile, req.BuildArgs, want, tmp, clientSystem(opts)); err != nil {
			return nil, err
		}
		for _, p := range pins {
			log.Info("pinned base", "image", p.Ref, "to", p.Pinned)
		}
	}
	if !opts.NoContextCache {
		// Listed once, on first use, for all the nodes that keep contexts.
		snap, err := buildcontext.New(buildcontext.Options{Dir: req.ContextDir, Containerfile: req.Containerfile, Excludes: req.Excludes, SpoolDir: opts.ContextSpool})
		if err != nil {
			return nil, err
		}
		defer snap.Close()
		req.Snapshot = snap
	}
	d := newDispatcher(ctx, plan, nodes, req, opts)
	d.more = planner.openRest
	d.run(plan)
	defer d.cancel()
	if joinFailuresFirst(d.errs) == nil && ctx.Err() == nil {
		d.recheck()
	}
	if opts.Cleanup {
		defer cleanupNodes(context.WithoutCancel(ctx), d, log)
	}
	if len(pins) == 0 {
		recordBases(ctx, d, cf)
	}
	res := &BuildResult{Platforms: d.jobs, Nodes: planner.observedNodes()}
	for i := range res.Platforms {
		for _, p := range pins {
			if res.Platforms[i].Bases == nil {
				res.Platforms[i].Bases = map[string]string{}
			}
			res.Platforms[i].Bases[p.Ref] = p.PerPlatform[res.Platforms[i].Platform]
		}
	}
	images, built := d.images, d.built
	if errs := joinFailuresFirst(d.errs); errs != nil {
		if !opts.AllowPartial || ctx.Err() != nil {
			return res, errs
		}
		images, built = nil, nil
		for i, img := range d.images {
			if d.errs[i] == nil {
				images = append(images, img)
				built = append(built, d.built[i])
			} else {
				res.Missing = append(res.Missing, d.jobs[i].Platform)
			}
		}
		if len(images) == 0 {
			return res, errs
		}
		log.Warn("storing a partial result (--allow-partial)", "missing", res.Missing, "errors", errs)
	}
	if err := runTests(ctx, images, built, opts.Tests, testTimeout(opts.Timeout), d.events); err != nil {
		return res, err
	}
	d.events.emit(Event{Type: "phase", Phase: "storing", Output: opts.Output.Kind()})
	res.Index, err = opts.Output.store(ctx, delivery{images: images, nodes: built, opts: opts, events: d.events})
	if err != nil {
		return res, fmt.Errorf("%w: %w", errdefs.ErrOutput, err)
	}
	k := 0
	for i := range res.Platforms {
		if d.errs[i] == nil && k < len(res.Index.Manifests) {
			res.Platforms[i].Digest = res.Index.Manifests[k].Digest.String()
			k++
		}
	}
	return res, nil
}

// prepare checks the options and turns them into the per-node request.
func prepare(opts *BuildOptions) (engine.NodeBuild, error) {
	st, err := os.Stat(opts.ContextDir)
	if err != nil || !st.IsDir() {
		return engine.NodeBuild{}, fmt.Errorf("%w: build context %q is not a directory", errdefs.ErrUsage, opts.ContextDir)
	}
	cf, err := containerfilePath(*opts)
	if err != nil {
		return engine.NodeBuild{}, err
	}
	if opts.Output == nil {
		return engine.NodeBuild{}, fmt.Errorf("%w: no output: say where the result goes", errdefs.ErrUsage)
	}
	_, oci := opts.Output.(OCILayout)
	if _, keep := opts.Output.(Keep); !oci && !keep && len(opts.Tags) == 0 {
		return engine.NodeBuild{}, fmt.Errorf("%w: name the result with -t (a local manifest list, or the registry reference with --push)", errdefs.ErrUsage)
	}
	if len(opts.Linked) > 0 {
		// Every node's request names them (their images per platform
		// replace these), so that the nodes' flag checks see them.
		opts.Instructions.BuildContexts = maps.Clone(opts.Instructions.BuildContexts)
		if opts.Instructions.BuildContexts == nil {
			opts.Instructions.BuildContexts = map[string]string{}
		}
		for name, by := range opts.Linked {
			for _, img := range by {
				opts.Instructions.BuildContexts[name] = "docker-image://" + img.Ref
			}
		}
	}
	req := engine.NodeBuild{ContextDir: opts.ContextDir, Containerfile: cf, Instructions: opts.Instructions, ClientID: opts.ClientID}
	if opts.IgnoreFile != "" {
		if req.Excludes, err = containerfile.ReadIgnoreFile(opts.IgnoreFile); err != nil {
			return engine.NodeBuild{}, fmt.Errorf("%w: --ignorefile: %v", errdefs.ErrUsage, err)
		}
	} else if req.Excludes, err = containerfile.Excludes(opts.ContextDir, cf); err != nil {
		return engine.NodeBuild{}, fmt.Errorf("%w: reading the ignore file: %v", errdefs.ErrUsage, err)
	}
	return req, nil
}

// stableContainerfile returns a path from which every node reads the same
// Containerfile: path itself when it is a regular file, else (-f
// /dev/stdin, a pipe) a copy in dir of what it holds, read once.
func stableContainerfile(path, dir string) (string, error) {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return path, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: Containerfile %s: %v", errdefs.ErrUsage, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxContainerfile+1))
	if err != nil {
		return "", fmt.Errorf("reading the Containerfile %s: %w", path, err)
	}
	if len(data) > maxContainerfile {
		return "", fmt.Errorf("%w: Containerfile %s is larger than %d MiB", errdefs.ErrUsage, path, maxContainerfile>>20)
	}
	copied := filepath.Join(dir, "Containerfile")
	if err := os.WriteFile(copied, data, 0o600); err != nil {
		return "", err
	}
	return copied, nil
}

// maxContainerfile bounds a Containerfile read from a pipe.
const maxContainerfile = 16 << 20

// joinFailuresFirst joins the platform errors, real failures before the
// builds that were only canceled because of them.
func joinFailuresFirst(errs []error) error {
	var failed, canceled []error
	for _, e := range errs {
		switch {
		case e == nil:
		case errors.Is(e, errdefs.ErrCanceled):
			canceled = append(canceled, e)
		default:
			failed = append(failed, e)
		}
	}
	return errors.Join(append(failed, canceled...)...)
}

// UserAgent is what the client's own registry requests say they are,
// unlike the nodes' engines.
const UserAgent = "farm (client)"

// clientSystem is the client's registry settings: credentials and TLS.
func clientSystem(opts BuildOptions) *types.SystemContext {
	sys := &types.SystemContext{AuthFilePath: opts.AuthFile, DockerRegistryUserAgent: UserAgent}
	if opts.TLSVerify != nil && !*opts.TLSVerify {
		sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
	}
	return sys
}
