package farm

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
	"golang.org/x/sync/errgroup"

	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/schedule"
)

// runResult is a BuildResult with each platform's error kept as a value.
type runResult struct {
	BuildResult
	errs []error
	// nodes holds, per platform, the node that built it.
	nodes []*Node
}

// runPlan builds every node's share of the plan in parallel. Each node
// builds its platforms from one upload of the context. Unless
// opts.KeepGoing, the first failure cancels the other nodes' builds.
func runPlan(ctx context.Context, plan schedule.Plan, nodes []*Node, req NodeBuild, opts BuildOptions) (*runResult, []manifest.Image) {
	byName := map[string]*Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	groups := map[string][]int{}
	var order []string
	for i, j := range plan.Jobs {
		if _, ok := groups[j.Node]; !ok {
			order = append(order, j.Node)
		}
		groups[j.Node] = append(groups[j.Node], i)
	}
	sort.Strings(order)
	res := &runResult{errs: make([]error, len(plan.Jobs)), nodes: make([]*Node, len(plan.Jobs))}
	res.Platforms = make([]PlatformResult, len(plan.Jobs))
	images := make([]manifest.Image, len(plan.Jobs))
	out := &syncWriter{w: opts.Log}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	for _, name := range order {
		n, idx := byName[name], groups[name]
		g.Go(func() error {
			r := req
			r.Platforms = nil
			for _, i := range idx {
				r.Platforms = append(r.Platforms, plan.Jobs[i].Platform)
				res.Platforms[i] = PlatformResult{Platform: schedule.Format(plan.Jobs[i].Platform), Node: name, Emulated: plan.Jobs[i].Emulated}
				res.nodes[i] = n
			}
			timer := newPlatformTimer()
			r.Log = func(p *ocispec.Platform, line string) {
				prefix := name
				if p != nil {
					prefix = schedule.Format(*p) + "@" + name
					timer.saw(prefix)
				}
				out.line(prefix, line)
			}
			start := time.Now()
			built, err := n.Builder.Build(bctx, r)
			for _, i := range idx {
				res.Platforms[i].Duration = timer.took(res.Platforms[i].Platform+"@"+name, time.Since(start))
			}
			for _, b := range built {
				for _, i := range idx {
					if schedule.Format(plan.Jobs[i].Platform) == schedule.Format(b.Platform) {
						res.Platforms[i].ImageID = b.ImageID
						images[i] = imageOf(n, b, opts)
					}
				}
			}
			if err != nil {
				siblingCanceled := bctx.Err() != nil && ctx.Err() == nil && errors.Is(err, context.Canceled)
				for _, i := range idx {
					if res.Platforms[i].ImageID != "" {
						continue
					}
					e := platformError(err, res.Platforms[i].Platform, name)
					if siblingCanceled {
						e = &BuildError{Platform: res.Platforms[i].Platform, Node: name, Err: ErrCanceled}
					}
					res.errs[i], res.Platforms[i].Error = e, e.Error()
				}
				if !opts.KeepGoing {
					cancel()
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return res, images
}

// platformError picks the *BuildError for one platform out of a node's
// joined errors, or wraps the node's error.
func platformError(err error, platform, node string) error {
	var joined interface{ Unwrap() []error }
	list := []error{err}
	if errors.As(err, &joined) {
		list = joined.Unwrap()
	}
	for _, e := range list {
		var be *BuildError
		if errors.As(e, &be) && be.Platform == platform {
			return be
		}
	}
	return &BuildError{Platform: platform, Node: node, Err: err}
}

// imageOf describes a built image for the manifest package, with the
// node operations it needs.
func imageOf(n *Node, b PlatformImage, opts BuildOptions) manifest.Image {
	return manifest.Image{
		Platform: b.Platform, Node: n.Name, ImageID: b.ImageID,
		Export: func(ctx context.Context, w io.Writer) error { return n.Builder.Export(ctx, b.ImageID, w) },
		Push: func(ctx context.Context, ref string) error {
			po := PushOptions{TLSVerify: opts.TLSVerify, Format: opts.Format}
			if named, err := reference.ParseNormalizedNamed(ref); err == nil {
				c, err := Credentials(opts.AuthFile, reference.Domain(named))
				if err != nil {
					return err
				}
				po.Username, po.Password = c.Username, c.Password
			}
			return n.Builder.Push(ctx, b.ImageID, ref, po)
		},
	}
}

// deliver stores the result where opts.Output says.
func deliver(ctx context.Context, images []manifest.Image, opts BuildOptions) (manifest.Result, error) {
	docker := opts.Format == "docker"
	switch opts.Output {
	case OutputPush:
		sys := &types.SystemContext{AuthFilePath: opts.AuthFile}
		if opts.TLSVerify != nil && !*opts.TLSVerify {
			sys.DockerInsecureSkipTLSVerify = types.OptionalBoolTrue
		}
		return manifest.ToRegistry(ctx, images, opts.Tags, manifest.RegistryOptions{System: sys, StagingTag: "farm-staging-" + randomID(), Docker: docker})
	case OutputOCI:
		ref, name := "latest", ""
		if len(opts.Tags) > 0 {
			if n, err := reference.ParseNormalizedNamed(opts.Tags[0]); err == nil {
				n = reference.TagNameOnly(n)
				ref, name = n.(reference.Tagged).Tag(), n.String()
			}
		}
		return manifest.ToOCILayout(ctx, images, opts.Dest, ref, name, docker)
	default:
		if opts.Local == nil {
			return manifest.Result{}, errors.New("no local engine")
		}
		local, stop, err := opts.Local(ctx)
		if err != nil {
			return manifest.Result{}, err
		}
		defer stop()
		return manifest.ToLocal(ctx, local, images, opts.Tags)
	}
}

// cleanupNodes removes the images this build left on the nodes.
func cleanupNodes(ctx context.Context, nodes []*Node, res *runResult, log *slog.Logger) {
	byNode := map[*Node][]string{}
	for i, p := range res.Platforms {
		if p.ImageID != "" && res.nodes[i] != nil {
			byNode[res.nodes[i]] = append(byNode[res.nodes[i]], p.ImageID)
		}
	}
	for n, ids := range byNode {
		if err := n.Builder.Remove(ctx, ids); err != nil {
			log.Warn("removing built images", "node", n.Name, "error", err)
		}
	}
}

// platformTimer measures each platform from its first to its last output line.
type platformTimer struct {
	mu          sync.Mutex
	first, last map[string]time.Time
}

func newPlatformTimer() *platformTimer {
	return &platformTimer{first: map[string]time.Time{}, last: map[string]time.Time{}}
}

func (t *platformTimer) saw(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if _, ok := t.first[key]; !ok {
		t.first[key] = now
	}
	t.last[key] = now
}

func (t *platformTimer) took(key string, fallback time.Duration) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.first[key]; ok {
		return t.last[key].Sub(f).Round(time.Millisecond)
	}
	return fallback.Round(time.Millisecond)
}

// ReadIgnoreFile reads .containerignore-style patterns.
func ReadIgnoreFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, sc.Err()
}

// randomID returns 8 random hex digits.
func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
