package farm

import (
	"fmt"

	"golang.org/x/sync/errgroup"

	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"go.podman.io/image/v5/docker/reference"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/platform"
)

// stageAll opens the store and has every node push its images into it,
// compressing their layers as c says.
func stageAll(ctx context.Context, d delivery, c engine.Compression) (*stager, []manifest.Staged, error) {
	st, err := newStager(d.opts.StoreDir, d.opts.StoreMax, c)
	if err != nil {
		return nil, nil, err
	}
	staged, err := st.all(ctx, d, nil)
	if err != nil {
		st.close()
		return nil, nil, err
	}
	return st, staged, nil
}

// all has every node push its images into the store, nodes in parallel.
// Each image is handed to staged (when not nil) as soon as it is in, so
// that the next step can start on it while the others arrive; staged
// must not block.
func (s *stager) all(ctx context.Context, d delivery, staged func(int, manifest.Staged)) ([]manifest.Staged, error) {
	out := make([]manifest.Staged, len(d.images))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, img := range d.images {
		g.Go(func() error {
			plat := platform.Format(img.Platform)
			d.events.emit(Event{Type: "phase", Phase: "fetching", Platform: plat, Node: img.Node})
			start := time.Now()
			// Each image gets a tag no other node knows.
			dg, n, err := s.stage(gctx, d.nodes[i], img.ImageID, "farm-"+randomID()+randomID()+"-"+platform.Slug(img.Platform))
			if err != nil {
				return fmt.Errorf("%s from %s: %w", plat, img.Node, err)
			}
			d.events.emit(Event{Type: "phase", Phase: "fetched", Platform: plat, Node: img.Node, Bytes: n, Rate: float64(n) / max(time.Since(start).Seconds(), 1e-3)})
			out[i] = manifest.Staged{Platform: img.Platform, Node: img.Node, ImageID: img.ImageID, Digest: dg}
			if staged != nil {
				staged(i, out[i])
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// Layer compression by path (docs/build.md, "How results travel"):
// what a registry or an OCI layout receives is gzip at its default
// level, which every client reads; what only goes into the local
// engine, which decompresses it at once, is zstd at its fastest level,
// several times quicker to make and to read. Docker nodes push gzip
// whatever they are asked.
var standardCompression = engine.Compression{Format: "gzip", Only: true}

// localCompression is the compression of a delivery into local storage.
// A layer the store has in another format will do. Docker manifests
// (--format docker) cannot name zstd layers: those get gzip at its
// fastest level.
func localCompression(format string) engine.Compression {
	if format == "docker" {
		return engine.Compression{Format: "gzip", Level: 1}
	}
	return engine.Compression{Format: "zstd", Level: 1}
}

// layoutNames are the ref name (the tag) and image name of an OCI layout.
func layoutNames(tags []string) (string, string) {
	if len(tags) > 0 {
		if n, err := reference.ParseNormalizedNamed(tags[0]); err == nil {
			n = reference.TagNameOnly(n)
			return n.(reference.Tagged).Tag(), n.String()
		}
	}
	return "latest", ""
}

// cleanupNodes removes what this build left on the nodes: the names it
// gave its images, then the layer images it created, never forcing
// (engine.Builder.Remove), so what others use stays.
func cleanupNodes(ctx context.Context, d *dispatcher, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	byNode := map[*Node][]string{}
	for i, p := range d.jobs {
		if p.ImageRef != "" && d.built[i] != nil {
			byNode[d.built[i]] = append(byNode[d.built[i]], p.ImageRef)
		}
	}
	for i, p := range d.jobs {
		if p.ImageRef != "" && d.built[i] != nil {
			byNode[d.built[i]] = append(byNode[d.built[i]], p.Intermediate...)
		}
	}
	for n, ids := range byNode {
		if err := n.Builder.Remove(ctx, ids); err != nil {
			log.Warn("removing built images", "node", n.Name, "error", err)
		}
	}
}

// cleanupTimeout bounds --cleanup on all nodes.
const cleanupTimeout = 2 * time.Minute

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

// randomID returns 8 random hex digits.
func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
