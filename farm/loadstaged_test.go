package farm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/transport"
)

// pushingNode is a node whose Push uploads a one-layer image to the
// store over HTTP, as an engine does, after waiting for its gate.
type pushingNode struct {
	fakeBuilder
	arch string
	gate <-chan struct{}
	// pushed is the compression asked of the push.
	pushed engine.Compression
	// fail, when set, is the push's error.
	fail error
}

// image returns the node's image: config, layer and manifest.
func (p *pushingNode) image() (config, layer, raw []byte) {
	config = []byte(`{"architecture":"` + p.arch + `","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer = []byte("layer of " + p.arch)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromBytes(layer), Size: int64(len(layer))}}}
	m.SchemaVersion = 2
	raw, _ = json.Marshal(m)
	return config, layer, raw
}

func (p *pushingNode) Push(ctx context.Context, _, ref string, o engine.PushOptions) error {
	select {
	case <-p.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.pushed = o.Compression
	if p.fail != nil {
		return p.fail
	}
	host, tag, _ := strings.Cut(ref, "/farm/store:")
	send := func(method, path string, body []byte) error {
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+host+path, bytes.NewReader(body))
		req.SetBasicAuth(o.Username, o.Password)
		req.Close = true // each run's store has its own login: no connection of an earlier one
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		return nil
	}
	config, layer, raw := p.image()
	for _, b := range [][]byte{config, layer} {
		if err := send(http.MethodPost, "/v2/farm/store/blobs/uploads/?digest="+digest.FromBytes(b).String(), b); err != nil {
			return err
		}
	}
	return send(http.MethodPut, "/v2/farm/store/manifests/"+tag, raw)
}

// recordingPuller is a local engine that pulls the manifest it is given
// and reports each pull.
type recordingPuller struct {
	mu     sync.Mutex
	pulled chan string
	lists  map[string][]string
	// fail, when set, is every pull's error.
	fail error
}

func (r *recordingPuller) Pull(ctx context.Context, ref string) (string, error) {
	if r.fail != nil {
		return "", r.fail
	}
	host, dg, _ := strings.Cut(ref, "/farm/store@")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/farm/store/manifests/"+dg, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var m ocispec.Manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return "", err
	}
	r.pulled <- m.Config.Digest.Encoded()
	return m.Config.Digest.Encoded(), nil
}

func (r *recordingPuller) Load(context.Context, io.Reader) error { return nil }
func (r *recordingPuller) Tag(context.Context, string, string) error {
	return nil
}
func (r *recordingPuller) CreateList(_ context.Context, name string, ids []string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists[name] = ids
	return "list", nil
}

// localDelivery is a delivery into local storage from the nodes.
func localDelivery(t *testing.T, nodes ...*pushingNode) delivery {
	t.Helper()
	d := delivery{opts: BuildOptions{StoreDir: t.TempDir(), Tags: []string{"app:1"}, Logger: slog.New(slog.DiscardHandler)}, events: &emitter{}}
	for _, n := range nodes {
		conn, err := transport.Connect(context.Background(), n.arch, "unix:///nonexistent.sock", "")
		if err != nil {
			t.Fatal(err)
		}
		config, _, _ := n.image()
		d.nodes = append(d.nodes, &Node{Name: n.arch, Conn: conn, Builder: n})
		d.images = append(d.images, manifest.Image{Platform: ocispec.Platform{OS: "linux", Architecture: n.arch}, Node: n.arch,
			ImageID: digest.FromBytes(config).String()})
	}
	return d
}

// A local delivery pulls each image as soon as it is in the store, while
// the others still arrive: here the second node pushes only once the
// first image is in local storage. Its layers are asked for in zstd.
func TestLocalDeliveryLoadsEachImageAsItArrives(t *testing.T) {
	firstPulled := make(chan struct{})
	open := make(chan struct{})
	close(open)
	a := &pushingNode{arch: "amd64", gate: open}
	b := &pushingNode{arch: "arm64", gate: firstPulled}
	d := localDelivery(t, a, b)
	local := &recordingPuller{pulled: make(chan string, 2), lists: map[string][]string{}}
	go func() {
		select {
		case <-local.pulled:
			close(firstPulled)
		case <-time.After(30 * time.Second):
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := loadStaged(ctx, d, local)
	if err != nil {
		t.Fatalf("the second image waits for the first to be loaded: %v", err)
	}
	configA, _, _ := a.image()
	configB, _, _ := b.image()
	want := []string{digest.FromBytes(configA).Encoded(), digest.FromBytes(configB).Encoded()}
	if got := local.lists["app:1"]; res.Digest != "list" || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("list app:1 = %v (%+v), want %v", got, res, want)
	}
	if a.pushed.Format != "zstd" || b.pushed.Format != "zstd" {
		t.Errorf("local delivery asked for %+v and %+v, want zstd", a.pushed, b.pushed)
	}
}

// A node that cannot push into the store makes the delivery fall back to
// streaming whole images (errNotStaged); a pull the local engine fails is
// the delivery's error, with no fallback.
func TestLocalDeliveryFailures(t *testing.T) {
	open := make(chan struct{})
	close(open)
	refused := errors.New("forwarding refused")
	d := localDelivery(t, &pushingNode{arch: "amd64", gate: open}, &pushingNode{arch: "arm64", gate: open, fail: refused})
	local := &recordingPuller{pulled: make(chan string, 2), lists: map[string][]string{}}
	if _, err := loadStaged(context.Background(), d, local); !errors.Is(err, errNotStaged) || !errors.Is(err, refused) {
		t.Errorf("a node that cannot stage: %v, want errNotStaged", err)
	}
	broken := errors.New("local storage is full")
	d = localDelivery(t, &pushingNode{arch: "amd64", gate: open})
	local = &recordingPuller{fail: broken, lists: map[string][]string{}}
	if _, err := loadStaged(context.Background(), d, local); errors.Is(err, errNotStaged) || !errors.Is(err, broken) {
		t.Errorf("a failed pull: %v, want its error, not errNotStaged", err)
	}
}
