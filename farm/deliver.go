package farm

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"

	"github.com/farmbuild/farm/manifest"
)

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
func cleanupNodes(ctx context.Context, d *dispatcher, log *slog.Logger) {
	byNode := map[*Node][]string{}
	for i, p := range d.jobs {
		if p.ImageID != "" && d.built[i] != nil {
			byNode[d.built[i]] = append(byNode[d.built[i]], p.ImageID)
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
