package farm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/schedule"
)

// LinkedImage is another build's image for one platform, as the node
// that built it holds it.
type LinkedImage struct {
	// Node is the node that holds the image.
	Node string
	// Ref is the image's name there (PlatformResult.ImageRef).
	Ref string
}

// Linked are named build contexts that are other builds' results: by
// context name, then by platform (platform.Format). A build with Linked
// contexts builds each platform on its own, on the node that holds that
// platform's linked images, which its build names as
// docker-image://REF; it is not moved to another node.
type Linked map[string]map[string]LinkedImage

// LinkResults makes the Linked contexts of a build of want from other
// builds' results (by context name). A result of one platform serves
// every platform of want, as buildx gives a one-platform dependency to
// every platform of its dependent; otherwise each platform of want must
// be among the result's. The platforms of want that one node must build
// are returned too: want itself, or the result's platforms when want is
// empty.
func LinkResults(results map[string]*BuildResult, want []ocispec.Platform) (Linked, []ocispec.Platform, error) {
	names := slices.Sorted(maps.Keys(results))
	if len(want) == 0 && len(names) > 0 {
		for _, p := range results[names[0]].Platforms {
			q, err := platform.Parse(p.Platform)
			if err != nil {
				return nil, nil, err
			}
			want = append(want, q)
		}
	}
	linked := Linked{}
	for _, name := range names {
		res := results[name]
		by := map[string]LinkedImage{}
		for _, p := range res.Platforms {
			if p.ImageRef == "" {
				return nil, nil, fmt.Errorf("%w: context %s: %s has no image on %s", errdefs.ErrUsage, name, p.Platform, p.Node)
			}
			by[p.Platform] = LinkedImage{Node: p.Node, Ref: p.ImageRef}
		}
		linked[name] = map[string]LinkedImage{}
		for _, w := range want {
			key := platform.Format(w)
			img, ok := by[key]
			if !ok && len(res.Platforms) == 1 {
				img, ok = by[res.Platforms[0].Platform], true
			}
			if !ok {
				return nil, nil, fmt.Errorf("%w: context %s has no image for %s (it has %s)", errdefs.ErrUsage, name, key, platformsOf(res))
			}
			linked[name][key] = img
		}
	}
	if _, err := linked.pins(want); err != nil {
		return nil, nil, err
	}
	return linked, want, nil
}

func platformsOf(res *BuildResult) string {
	var ps []string
	for _, p := range res.Platforms {
		ps = append(ps, p.Platform)
	}
	sort.Strings(ps)
	if len(ps) == 0 {
		return "none"
	}
	return fmt.Sprint(ps)
}

// Nodes are the nodes that hold the linked images.
func (l Linked) Nodes() []string {
	seen := map[string]bool{}
	for _, by := range l {
		for _, img := range by {
			seen[img.Node] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// pins maps each platform of want to the node that holds its linked
// images; the images of one platform must all be on one node.
func (l Linked) pins(want []ocispec.Platform) (map[string]string, error) {
	pins := map[string]string{}
	for _, w := range want {
		key := platform.Format(w)
		for _, name := range slices.Sorted(maps.Keys(l)) {
			img, ok := l[name][key]
			if !ok {
				return nil, fmt.Errorf("%w: context %s has no image for %s", errdefs.ErrUsage, name, key)
			}
			if n, ok := pins[key]; ok && n != img.Node {
				return nil, fmt.Errorf("%w: the contexts of %s were built on different nodes (%s, %s): farm cannot bring them together yet", errdefs.ErrUsage, key, n, img.Node)
			}
			pins[key] = img.Node
		}
	}
	return pins, nil
}

// contexts are the named contexts of one platform's build.
func (l Linked) contexts(plat string) map[string]string {
	out := map[string]string{}
	for name, by := range l {
		if img, ok := by[plat]; ok {
			out[name] = "docker-image://" + img.Ref
		}
	}
	return out
}

// pinnedPlan plans each platform on the node that holds its linked
// images, among the nodes with facts.
func pinnedPlan(want []ocispec.Platform, l Linked, facts []schedule.Node) (schedule.Plan, error) {
	pins, err := l.pins(want)
	if err != nil {
		return schedule.Plan{}, err
	}
	var plan schedule.Plan
	for _, w := range want {
		key := platform.Format(w)
		var node []schedule.Node
		for _, f := range facts {
			if f.Name == pins[key] {
				node = append(node, f)
			}
		}
		if len(node) == 0 {
			return schedule.Plan{}, fmt.Errorf("%w: %s, which holds what the build of %s starts from, cannot be reached", errdefs.ErrNodeDown, pins[key], key)
		}
		one, err := schedule.Assign([]ocispec.Platform{w}, node)
		if err != nil {
			return schedule.Plan{}, fmt.Errorf("%w: %w", errdefs.ErrNoCapableNode, err)
		}
		one.Jobs[0].Reason = "holds the image its named context gives"
		plan.Jobs = append(plan.Jobs, one.Jobs[0])
		plan.Makespan = max(plan.Makespan, one.Makespan)
	}
	return plan, nil
}

// Keep leaves the result on the nodes that built it and stores it
// nowhere: for a build whose images only other builds use (Linked).
type Keep struct{}

var _ Output = Keep{}

// Kind is "none".
func (Keep) Kind() string { return "none" }

func (Keep) store(context.Context, delivery) (manifest.Result, error) {
	return manifest.Result{}, nil
}
