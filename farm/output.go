package farm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.podman.io/image/v5/pkg/blobinfocache"

	"github.com/farmbuild/farm/platform"

	"github.com/farmbuild/farm/manifest"
)

// Output is where a build's result goes: Push, OCILayout or Local. Each
// owns its path, straight from the nodes or through the client's blob
// store.
type Output interface {
	// Kind names the output in events and records: "push", "oci" or
	// "local".
	Kind() string
	// store delivers the built images.
	store(ctx context.Context, d delivery) (manifest.Result, error)
}

var (
	_ Output = Push{}
	_ Output = OCILayout{}
	_ Output = Local{}
)

// delivery is what an output delivers: the images, the nodes holding
// them (index-aligned) and the build's options and events.
type delivery struct {
	images []manifest.Image
	nodes  []*Node
	opts   BuildOptions
	events *emitter
}

// Push brings the images into the client's blob store, as for the other
// outputs, and the client pushes them from there to the registry of the
// tags with its own credentials: no node ever holds a registry
// credential, and the registry gets no tag but the user's.
type Push struct{}

// Kind is "push".
func (Push) Kind() string { return "push" }

func (Push) store(ctx context.Context, d delivery) (manifest.Result, error) {
	// The registry gets the very blobs the nodes push into the store.
	st, staged, err := stageAll(ctx, d, standardCompression)
	if err != nil {
		return manifest.Result{}, fmt.Errorf("bringing the images to the client: %w", err)
	}
	defer st.close()
	sys := clientSystem(d.opts)
	for _, s := range staged {
		d.events.emit(Event{Type: "phase", Phase: "pushing", Platform: platform.Format(s.Platform), Node: s.Node, Line: strings.Join(d.opts.Tags, " ")})
	}
	res, err := manifest.RegistryFromStore(ctx, st.server, staged, d.opts.Tags, manifest.PushOptions{System: sys,
		Cache: blobinfocache.DefaultCache(sys), Docker: d.opts.Format == "docker"})
	if err != nil && len(res.References) > 0 {
		return res, fmt.Errorf("%w (the index is already at %s)", err, strings.Join(res.References, ", "))
	}
	if err != nil {
		return res, err
	}
	for _, s := range staged {
		d.events.emit(Event{Type: "phase", Phase: "pushed", Platform: platform.Format(s.Platform), Node: s.Node, Line: strings.Join(d.opts.Tags, " ")})
	}
	return res, nil
}

// OCILayout writes the result into an OCI image layout directory.
type OCILayout struct {
	// Dir is the layout's directory.
	Dir string
}

// Kind is "oci".
func (OCILayout) Kind() string { return "oci" }

func (o OCILayout) store(ctx context.Context, d delivery) (manifest.Result, error) {
	ref, name := layoutNames(d.opts.Tags)
	docker := d.opts.Format == "docker"
	st, staged, err := stageAll(ctx, d, standardCompression)
	if err != nil {
		d.opts.Logger.Warn("could not bring the images through farm's blob store: streaming whole images instead", "error", err)
		return manifest.ToOCILayout(ctx, d.images, o.Dir, ref, name, docker)
	}
	defer st.close()
	return manifest.OCILayoutFromStore(st.server, staged, o.Dir, ref, name, docker)
}

// Local brings the images into the local engine and creates a manifest
// list named by the first tag there.
type Local struct {
	// Open opens the local engine; the returned function releases it.
	Open func(ctx context.Context) (manifest.Puller, func(), error)
}

// Kind is "local".
func (Local) Kind() string { return "local" }

func (l Local) store(ctx context.Context, d delivery) (manifest.Result, error) {
	if l.Open == nil {
		return manifest.Result{}, errors.New("no local engine")
	}
	if len(d.opts.Tags) == 0 {
		return manifest.Result{}, errors.New("a local result needs a name: give -t NAME")
	}
	local, stop, err := l.Open(ctx)
	if err != nil {
		return manifest.Result{}, err
	}
	defer stop()
	res, err := loadStaged(ctx, d, local)
	if errors.Is(err, errNotStaged) {
		d.opts.Logger.Warn("could not bring the images through farm's blob store: streaming whole images instead", "error", err)
		return manifest.ToLocal(ctx, local, d.images, d.opts.Tags)
	}
	return res, err
}

// errNotStaged is a local delivery whose images could not come through
// the store.
var errNotStaged = errors.New("not staged")

// loadStaged brings the images through the store into the local engine,
// pulling each as soon as it is staged, while the others arrive.
func loadStaged(ctx context.Context, d delivery, local manifest.Puller) (manifest.Result, error) {
	st, err := newStager(d.opts.StoreDir, d.opts.StoreMax, localCompression(d.opts.Format))
	if err != nil {
		return manifest.Result{}, fmt.Errorf("%w: %w", errNotStaged, err)
	}
	defer st.close()
	loader, err := manifest.NewLocalLoader(local, st.server)
	if err != nil {
		return manifest.Result{}, err
	}
	defer loader.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type arrival struct {
		i int
		s manifest.Staged
	}
	arrived := make(chan arrival, len(d.images))
	ids := make([]string, len(d.images))
	pulled := make(chan error, 1)
	go func() {
		var err error
		for a := range arrived {
			if err == nil {
				if ids[a.i], err = loader.Load(ctx, a.s); err != nil {
					cancel(err) // the others need not arrive
				}
			}
		}
		pulled <- err
	}()
	_, err = st.all(ctx, d, func(i int, s manifest.Staged) { arrived <- arrival{i, s} })
	close(arrived)
	if err != nil {
		cancel(errNotStaged) // stops a pull under way; no-op after a failed pull
	}
	pullErr := <-pulled
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, errNotStaged) {
		return manifest.Result{}, cause // a pull failed, or the build was canceled
	}
	if err != nil {
		return manifest.Result{}, fmt.Errorf("%w: %w", errNotStaged, err)
	}
	if pullErr != nil {
		return manifest.Result{}, pullErr
	}
	return loader.List(ctx, ids, d.opts.Tags)
}
