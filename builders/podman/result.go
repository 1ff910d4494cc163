package podman

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/images"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/transport"
)

// A build's output is text that its RUN steps can print too, so farm
// never takes an image ID from it. Each build call gets a nonce: podman
// adds every platform's image to a manifest list named by it (--manifest),
// and the images are found through that list and the engine's image
// list, both API data. The nonce also marks the build's working
// containers (see buildMarker), so that canceling touches only them.

// newNonce returns 16 random hex digits.
func newNonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// listName is the manifest list a build call adds its images to.
func listName(nonce string) string {
	return engine.HoldRepo + ":" + nonce + "-list"
}

// buildMarker is the extra host entry (--add-host) that marks a build's
// working containers: buildah keeps it in each container's buildah.json,
// and it changes neither the image nor the layer cache's keys.
func buildMarker(nonce string) string {
	return "farm-" + nonce + ".invalid:127.0.0.1"
}

// imageIDs lists every image in the node's store (layer images
// included): the set of IDs, and the images by manifest digest. A digest
// can name several images: a manifest list has its first instance's
// digest on some podman versions, and an image pulled back from where it
// was pushed can share its digest; imageFor picks among them.
//
// The API's list computes every image's size (over a second for 200
// images on podman 4.3), so the store's own index is read over SSH where
// it can be; the API is the fallback.
func (e *Engine) imageIDs(ctx context.Context) (map[string]bool, map[string][]summary, error) {
	ids, byDigest := map[string]bool{}, map[string][]summary{}
	add := func(id string, digests, names []string, list bool) {
		ids[id] = true
		for _, d := range digests {
			if d != "" {
				byDigest[d] = append(byDigest[d], summary{id: id, names: names, list: list})
			}
		}
	}
	if stored, err := e.storeIndex(ctx); err == nil {
		for _, img := range stored {
			add(img.ID, append([]string{img.Digest}, img.Digests...), img.Names, false)
		}
		return ids, byDigest, nil
	}
	all := true
	list, err := images.List(e.ctx(ctx), &images.ListOptions{All: &all})
	if err != nil {
		return nil, nil, fmt.Errorf("listing images on %s: %w", e.conn.Node(), err)
	}
	for _, img := range list {
		add(img.ID, []string{img.Digest}, img.Names, img.IsManifestList != nil && *img.IsManifestList)
	}
	return ids, byDigest, nil
}

// storedIndexEntry is what farm reads of an image in the store's index
// (containers/storage's images.json).
type storedIndexEntry struct {
	ID      string   `json:"id"`
	Digest  string   `json:"digest"`
	Digests []string `json:"digests"`
	Names   []string `json:"names"`
}

// storeIndex reads the node's image store index over SSH.
func (e *Engine) storeIndex(ctx context.Context) ([]storedIndexEntry, error) {
	if e.graphRoot == "" {
		return nil, errors.New("the store's path is not known")
	}
	out, err := e.conn.Run(ctx, "cat -- "+transport.ShellQuote(e.storeDir("images")+"/images.json"))
	if err != nil {
		return nil, err
	}
	var list []storedIndexEntry
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, err
	}
	for _, img := range list {
		if img.ID == "" {
			return nil, errors.New("an image without an ID in the store's index")
		}
	}
	return list, nil
}

// apiTimeout bounds the calls farm makes after a build, canceled or not.
const apiTimeout = 2 * time.Minute

// summary is what imageFor weighs of an image.
type summary struct {
	id    string
	names []string
	list  bool
}

// imageFor picks the image a list instance of digest d is: not a
// manifest list (podman 5 says which are; farm's own lists are known by
// their names), and one the build call made rather than one that was
// there before, where there is a choice.
func imageFor(candidates []summary, before map[string]bool) string {
	var images []string
	for _, c := range candidates {
		if c.list || slices.ContainsFunc(c.names, isListName) {
			continue
		}
		images = append(images, c.id)
	}
	slices.SortFunc(images, func(a, b string) int {
		if before[a] != before[b] {
			if before[a] {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	if len(images) == 0 {
		return ""
	}
	return images[0]
}

// isListName reports whether name is one of farm's build lists.
func isListName(name string) bool {
	return strings.HasPrefix(name, engine.HoldRepo+":") && strings.HasSuffix(name, "-list")
}

// listInstance is one image of a manifest list.
type listInstance struct {
	Digest   string `json:"digest"`
	Platform struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

// listInstances reads the manifest list a build call made; a list that
// does not exist (the build failed before its first image) has none. The
// request carries no credentials: the bindings' Inspect would send the
// client's.
func (e *Engine) listInstances(ctx context.Context, name string) ([]listInstance, error) {
	conn, err := bindings.GetClient(e.values)
	if err != nil {
		return nil, err
	}
	// Only a list in the node's own storage counts: for a name it lacks,
	// podman would look in a registry (here, whatever answers on the
	// node's localhost).
	exists, err := conn.DoRequest(e.ctx(ctx), nil, http.MethodGet, "/manifests/%s/exists", url.Values{}, nil, name)
	if err != nil {
		return nil, fmt.Errorf("reading the build's list on %s: %w", e.conn.Node(), err)
	}
	exists.Body.Close()
	if exists.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	resp, err := conn.DoRequest(e.ctx(ctx), nil, http.MethodGet, "/manifests/%s/json", url.Values{}, nil, name)
	if err != nil {
		return nil, fmt.Errorf("reading the build's list on %s: %w", e.conn.Node(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the build's list on %s: %w", e.conn.Node(), err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the build's list on %s: %s", e.conn.Node(), resp.Status)
	}
	var list struct {
		Manifests []listInstance `json:"manifests"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("reading the build's list on %s: %w", e.conn.Node(), err)
	}
	return list.Manifests, nil
}

// builtImages returns, per requested platform, the ID of the image the
// build call added to its list ("" when it has none of that platform),
// and the platforms of images in the list that no request asked for (what
// podman 4's layer cache hands back for FROM scratch).
func (e *Engine) builtImages(ctx context.Context, nonce string, want []ocispec.Platform, before map[string]bool) ([]string, []string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer cancel()
	ids := make([]string, len(want))
	instances, err := e.listInstances(ctx, listName(nonce))
	if err != nil || len(instances) == 0 {
		return ids, nil, err
	}
	_, byDigest, err := e.imageIDs(ctx)
	if err != nil {
		return ids, nil, err
	}
	var stray []string
	for _, in := range instances {
		got := platform.Format(platform.FromEngine(in.Platform.OS, in.Platform.Architecture, in.Platform.Variant))
		matched := false
		for i, p := range want {
			if got == platform.Format(p) {
				ids[i], matched = imageFor(byDigest[in.Digest], before), true
			}
		}
		if !matched {
			stray = append(stray, got)
		}
	}
	return ids, stray, nil
}

// hold names image id for this build: in HoldRepo when the build created
// it (it was not in before), else in CachedRepo. It returns the name and
// the layer images the build created under it.
func (e *Engine) hold(ctx context.Context, id, nonce string, p ocispec.Platform, before map[string]bool) (string, []string, error) {
	repo := engine.HoldRepo
	if before[id] {
		repo = engine.CachedRepo
	}
	tag := nonce + "-" + platform.Slug(p)
	if err := images.Tag(e.ctx(ctx), id, tag, repo, nil); err != nil {
		return "", nil, fmt.Errorf("naming the built image on %s: %w", e.conn.Node(), err)
	}
	if before[id] {
		return repo + ":" + tag, nil, nil
	}
	return repo + ":" + tag, e.createdLayers(ctx, id, before), nil
}

// createdLayers follows the image's parent links down to the first layer
// image that was there before the build (or one with a name, or one that
// cannot be read): the layer images the build created.
func (e *Engine) createdLayers(ctx context.Context, id string, before map[string]bool) []string {
	var out []string
	for range 256 {
		img, err := images.GetImage(e.ctx(ctx), id, nil)
		if err != nil || img.Parent == "" || before[img.Parent] {
			return out
		}
		parent, err := images.GetImage(e.ctx(ctx), img.Parent, nil)
		if err != nil || len(parent.RepoTags) > 0 {
			return out
		}
		out = append(out, parent.ID)
		id = parent.ID
	}
	return out
}

// removeList removes a build call's manifest list, not its images (which
// images.Remove of a list's name does not do on podman 4: "tag not known").
func (e *Engine) removeList(ctx context.Context, nonce string) {
	conn, err := bindings.GetClient(e.values)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
	defer cancel()
	resp, err := conn.DoRequest(e.ctx(ctx), nil, http.MethodDelete, "/manifests/%s", url.Values{}, nil, listName(nonce))
	if err == nil {
		resp.Body.Close()
	}
}

var _ engine.BaseInspector = (*Engine)(nil)

// BaseDigest returns the manifest digest of the node's image for ref, as
// a build's FROM named it.
func (e *Engine) BaseDigest(ctx context.Context, ref string) (string, error) {
	img, err := images.GetImage(e.ctx(ctx), ref, nil)
	if err != nil {
		return "", err
	}
	return img.Digest.String(), nil
}
