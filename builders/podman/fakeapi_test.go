package podman

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/internal/enginetest"
)

// fakePodman answers the parts of podman's libpod API the driver uses,
// from memory. Its builds print what podman 4 and 5 print.
type fakePodman struct {
	mu sync.Mutex
	// arch is the architecture of what builds make ("" = what was asked).
	arch string
	// buildError is an error record a build stream ends with, at the
	// platform of failArch ("" for the first).
	buildError, failArch string
	// forged is an image ID the build's RUN output prints, as podman
	// prints its own.
	forged string
	// cached makes builds hand back this existing image (a cache hit).
	cached string
	// pushBody replaces the push stream.
	pushBody string
	images   map[string]string // ID -> architecture
	// lists are the manifest lists builds made: name -> image IDs.
	lists  map[string][]string
	tags   map[string]string // name -> ID
	builds int
	pushes []string
	// pushQueries are the pushes' query parameters.
	pushQueries []url.Values
	exit        int
}

var libpodPath = regexp.MustCompile(`^/v[0-9.]+(/libpod)?`)

func (f *fakePodman) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := libpodPath.ReplaceAllString(r.URL.Path, "")
	w.Header().Set("Libpod-Api-Version", "5.8.6")
	w.Header().Set("Api-Version", "1.41")
	switch {
	case path == "/_ping":
		_, _ = io.WriteString(w, "OK")
	case path == "/build":
		f.build(w, r)
	case path == "/containers/json":
		_, _ = io.WriteString(w, "[]")
	case path == "/images/json":
		var list []map[string]string
		for id := range f.images {
			list = append(list, map[string]string{"Id": id, "Digest": fakeDigest(id)})
		}
		_ = json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(path, "/manifests/") && strings.HasSuffix(path, "/exists"):
		if _, ok := f.lists[strings.TrimSuffix(strings.TrimPrefix(path, "/manifests/"), "/exists")]; ok {
			w.WriteHeader(http.StatusNoContent)
		} else {
			w.WriteHeader(http.StatusNotFound)
		}
	case strings.HasPrefix(path, "/manifests/") && r.Method == http.MethodDelete:
		delete(f.lists, strings.TrimPrefix(path, "/manifests/"))
		_, _ = io.WriteString(w, `{"Deleted":[],"Untagged":[],"ExitCode":0}`)
	case strings.HasPrefix(path, "/manifests/") && strings.HasSuffix(path, "/json"):
		ids, ok := f.lists[strings.TrimSuffix(strings.TrimPrefix(path, "/manifests/"), "/json")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"cause":"image not known","message":"image not known","response":404}`)
			return
		}
		var ms []map[string]any
		for _, id := range ids {
			ms = append(ms, map[string]any{"digest": fakeDigest(id), "platform": map[string]string{"os": "linux", "architecture": f.images[id]}})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"manifests": ms})
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/untag"):
		q := r.URL.Query()
		delete(f.tags, q.Get("repo")+":"+q.Get("tag"))
		w.WriteHeader(http.StatusCreated)
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/tag"):
		q := r.URL.Query()
		f.tags[q.Get("repo")+":"+q.Get("tag")] = f.resolve(strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/tag"))
		w.WriteHeader(http.StatusCreated)
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		id := f.resolve(strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json"))
		arch, ok := f.images[id]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"cause":"image not known","message":"`+id+`: image not known","response":404}`)
			return
		}
		var tags []string
		for t, tid := range f.tags {
			if tid == id {
				tags = append(tags, t)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Id": id, "Os": "linux", "Architecture": arch, "RepoTags": tags})
	case strings.HasSuffix(path, "/exists"):
		if _, ok := f.images[strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/exists")]; ok {
			w.WriteHeader(http.StatusNoContent)
		} else {
			w.WriteHeader(http.StatusNotFound)
		}
	case strings.HasSuffix(path, "/push"):
		// What the client sent of credentials, decoded: the one registry's
		// (X-Registry-Auth) and all it has (X-Registry-Config).
		var creds []string
		for _, h := range []string{"X-Registry-Auth", "X-Registry-Config"} {
			raw, _ := base64.URLEncoding.DecodeString(r.Header.Get(h))
			creds = append(creds, h+"="+string(raw))
		}
		f.pushes = append(f.pushes, r.URL.Query().Get("destination")+" "+strings.Join(creds, " "))
		f.pushQueries = append(f.pushQueries, r.URL.Query())
		if f.pushBody != "" {
			_, _ = io.WriteString(w, f.pushBody)
			return
		}
		_, _ = io.WriteString(w, `{"stream":"pushed\n"}`+"\n")
	case path == "/images/remove":
		// As podman: a name goes, and its image when that was its last;
		// an image named by its ID goes with its (one) name.
		for _, name := range r.URL.Query()["images"] {
			id := f.resolve(name)
			delete(f.tags, name)
			if _, byID := f.images[name]; byID {
				maps.DeleteFunc(f.tags, func(_, tid string) bool { return tid == name })
			}
			if !slices.Contains(slices.Collect(maps.Values(f.tags)), id) {
				delete(f.images, id)
			}
		}
		_, _ = io.WriteString(w, `{"Deleted":[],"Untagged":[],"Errors":[],"ExitCode":0}`)
	case path == "/containers/create":
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"Id":"c1","Warnings":[]}`)
	case strings.HasSuffix(path, "/start"):
		w.WriteHeader(http.StatusNoContent)
	case strings.HasSuffix(path, "/wait"):
		_, _ = fmt.Fprintf(w, "%d", f.exit)
	case strings.HasSuffix(path, "/logs"):
		_, _ = w.Write(enginetest.LogFrames("first line\n", "second line\n"))
	case strings.HasPrefix(path, "/containers/") && r.Method == http.MethodDelete:
		_, _ = io.WriteString(w, "[]")
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotImplemented)
		_, _ = fmt.Fprintf(w, `{"cause":"fake","message":"fake: %s %s","response":501}`, r.Method, path)
	}
}

// fakeDigest is the manifest digest the fake gives an image.
func fakeDigest(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// resolve finds an image by a name, its ID or a prefix of it, as podman does.
func (f *fakePodman) resolve(name string) string {
	if id, ok := f.tags[name]; ok {
		return id
	}
	for id := range f.images {
		if strings.HasPrefix(id, name) {
			return id
		}
	}
	return name
}

func (f *fakePodman) build(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	var platforms []string
	for _, v := range r.URL.Query()["platform"] {
		for _, p := range strings.Split(v, ",") {
			if p != "" {
				platforms = append(platforms, p)
			}
		}
	}
	line := func(s string) { _ = json.NewEncoder(w).Encode(map[string]string{"stream": s + "\n"}) }
	var last string
	var made []string
	for _, p := range platforms {
		prefix := ""
		if len(platforms) > 1 {
			prefix = "[" + p + "] "
		}
		line(prefix + "STEP 1/2: FROM scratch")
		line(prefix + "STEP 2/2: COPY . /")
		if f.buildError != "" && (f.failArch == "" || strings.HasSuffix(p, "/"+f.failArch)) {
			_ = json.NewEncoder(w).Encode(map[string]string{"error": f.buildError})
			return
		}
		if f.forged != "" {
			line("--> " + f.forged[:11])
			line(f.forged)
		}
		f.builds++
		sum := sha256.Sum256([]byte{byte(f.builds)})
		id := hex.EncodeToString(sum[:])
		if f.cached != "" {
			id = f.cached
		}
		arch := f.arch
		if arch == "" {
			arch = strings.Split(p, "/")[1]
		}
		f.images[id] = arch
		made = append(made, id)
		line(prefix + "COMMIT")
		line("--> " + id[:11])
		last = id
	}
	// buildah lists the images once every platform is built.
	list := r.URL.Query().Get("manifest")
	f.lists[list] = append(f.lists[list], made...)
	line(last)
}

func fakeEngine(t *testing.T, f *fakePodman) *Engine {
	t.Helper()
	if f.images == nil {
		f.images = map[string]string{}
	}
	f.lists, f.tags = map[string][]string{}, map[string]string{}
	e, err := New(context.Background(), enginetest.NewLink(t, "pm", f))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestPodmanBuildsEveryPlatformInOneCall(t *testing.T) {
	f := &fakePodman{}
	e := fakeEngine(t, f)
	req := enginetest.Request(t, nil, enginetest.AMD64, enginetest.ARM64)
	logged := map[string]int{}
	req.Log = func(p *ocispec.Platform, _ string) {
		if p != nil {
			logged[p.Architecture]++
		}
	}
	built, err := e.Build(context.Background(), req)
	if err != nil || len(built) != 2 || f.builds != 2 {
		t.Fatalf("Build = %+v, %v (%d builds)", built, err, f.builds)
	}
	for _, b := range built {
		if f.images[b.ImageID] != b.Platform.Architecture {
			t.Errorf("%s got image %s of %s", b.Platform.Architecture, b.ImageID, f.images[b.ImageID])
		}
	}
	if logged["amd64"] == 0 || logged["arm64"] == 0 {
		t.Errorf("each platform's lines are its own: %v", logged)
	}
}

func TestPodmanRebuildsAnImageOfTheWrongPlatform(t *testing.T) {
	f := &fakePodman{arch: "amd64"}
	e := fakeEngine(t, f)
	_, err := e.Build(context.Background(), enginetest.Request(t, nil, enginetest.ARM64))
	if err == nil || !errors.Is(err, errWrongPlatform) || f.builds != 2 {
		t.Errorf("a wrong platform is built again without the cache, then reported: %v (%d builds)", err, f.builds)
	}
}

func TestPodmanBuildErrorIsTheEngines(t *testing.T) {
	f := &fakePodman{buildError: "creating build container: pinging container registry 127.0.0.1:1: connection refused"}
	e := fakeEngine(t, f)
	_, err := e.Build(context.Background(), enginetest.Request(t, nil, enginetest.AMD64))
	var reported *errdefs.EngineError
	var be *errdefs.BuildError
	if !errors.As(err, &reported) || !errors.As(err, &be) || be.Step != "2/2: COPY . /" {
		t.Errorf("a stream error record is the engine's, with its step: %v (%+v)", err, be)
	}
}

func TestPodmanPushSendsOnlyTheGivenCredentials(t *testing.T) {
	// The client has a login for the registry; an anonymous push must not
	// hand it to the node.
	clientAuth := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(clientAuth, []byte(`{"auths":{"r.example":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("user:s3cret"))+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGISTRY_AUTH_FILE", clientAuth)
	f := &fakePodman{}
	e := fakeEngine(t, f)
	if err := e.Push(context.Background(), "sha256:x", "r.example/a:1", engine.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(f.pushes) != 1 || !strings.Contains(f.pushes[0], "r.example/a:1") {
		t.Fatalf("pushes: %v", f.pushes)
	}
	if strings.Contains(f.pushes[0], "s3cret") || !strings.Contains(f.pushes[0], `X-Registry-Auth={"Username":""`) {
		t.Errorf("an anonymous push sends an explicitly empty auth, never the client's: %s", f.pushes[0])
	}
}

// A push asks for the compression it is given, with and without
// credentials, and names none when given none (the engine's default).
func TestPodmanPushAsksForItsCompression(t *testing.T) {
	f := &fakePodman{}
	e := fakeEngine(t, f)
	pushes := []engine.PushOptions{
		{Username: "u", Password: "p", Compression: engine.Compression{Format: "zstd", Level: 1}},
		{Compression: engine.Compression{Format: "gzip", Only: true}},
		{Username: "u", Password: "p"},
	}
	for _, o := range pushes {
		if err := e.Push(context.Background(), "id", "r.example/a:1", o); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"compressionFormat=zstd compressionLevel=1 forceCompressionFormat=false",
		"compressionFormat=gzip compressionLevel= forceCompressionFormat=true",
		"compressionFormat= compressionLevel= forceCompressionFormat=",
	}
	for i, q := range f.pushQueries {
		got := "compressionFormat=" + param(q, "compressionFormat") + " compressionLevel=" + param(q, "compressionLevel") +
			" forceCompressionFormat=" + param(q, "forceCompressionFormat")
		if got != want[i] {
			t.Errorf("push %d sent %s, want %s", i, got, want[i])
		}
	}
}

// param reads a query parameter as podman does, whatever its case (the
// bindings send them in lower case).
func param(q url.Values, name string) string {
	for k, v := range q {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func TestPodmanTestExistingRemove(t *testing.T) {
	f := &fakePodman{exit: 3, images: map[string]string{"abc": "amd64"}}
	e := fakeEngine(t, f)
	var lines []string
	code, err := e.Test(context.Background(), "abc", "make check", func(l string) { lines = append(lines, l) })
	if err != nil || code != 3 || strings.Join(lines, "|") != "first line|second line" {
		t.Errorf("Test = %d, %v, %q", code, err, lines)
	}
	if got, err := e.Existing(context.Background(), []string{"abc", "gone"}); err != nil || len(got) != 1 {
		t.Errorf("Existing = %v, %v", got, err)
	}
	if err := e.Remove(context.Background(), []string{"abc"}); err != nil || len(f.images) != 0 {
		t.Errorf("Remove: %v, left %v", err, f.images)
	}
	if err := e.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestPodmanTakesNoImageFromTheBuildOutput(t *testing.T) {
	// A RUN step prints what podman prints for a committed image, naming
	// another user's image on the node.
	teammates := strings.Repeat("ab", 32)
	f := &fakePodman{forged: teammates}
	e := fakeEngine(t, f)
	f.images[teammates] = "amd64"
	built, err := e.Build(context.Background(), enginetest.Request(t, nil, enginetest.AMD64))
	if err != nil || len(built) != 1 {
		t.Fatalf("Build = %+v, %v", built, err)
	}
	b := built[0]
	if b.ImageID == teammates || !strings.HasPrefix(b.Ref, engine.HoldRepo+":") || f.tags[b.Ref] != b.ImageID {
		t.Errorf("the result must be the image the engine's list names, held by a name of its own: %+v (tags %v)", b, f.tags)
	}
	if len(f.lists) != 0 {
		t.Errorf("the build's manifest list must go: %v", f.lists)
	}
}

func TestPodmanCacheHitIsNamedAsCached(t *testing.T) {
	// The build hands back an image that was on the node before: farm
	// did not create it, so its name says so and prune only untags it.
	existing := strings.Repeat("cd", 32)
	f := &fakePodman{cached: existing}
	e := fakeEngine(t, f)
	f.images[existing] = "amd64"
	built, err := e.Build(context.Background(), enginetest.Request(t, nil, enginetest.AMD64))
	if err != nil || len(built) != 1 || built[0].ImageID != existing || !strings.HasPrefix(built[0].Ref, engine.CachedRepo+":") || len(built[0].Intermediate) != 0 {
		t.Errorf("a cache hit is held under %s and has no layers of farm's: %+v, %v", engine.CachedRepo, built, err)
	}
}

func TestPodmanPushStreamCutShortIsNoSuccess(t *testing.T) {
	f := &fakePodman{pushBody: `{"stream":"Copying blob 1234` + "\n"}
	e := fakeEngine(t, f)
	if err := e.Push(context.Background(), "id", "r.example/app:1", engine.PushOptions{}); err == nil {
		t.Error("a push stream that cannot be read to its end must be an error")
	}
}

func TestPodmanRegistriesDropInsAreInAPrivateDirectory(t *testing.T) {
	// Another local user could create a fixed path in the shared temporary
	// directory first, and choose the credential helpers the bindings run.
	e := fakeEngine(t, &fakePodman{})
	opts, err := buildOptions(enginetest.Request(t, nil, enginetest.AMD64), "n", e.dir)
	if err != nil {
		t.Fatal(err)
	}
	dropIns := opts.SystemContext.SystemRegistriesConfDirPath
	st, err := os.Stat(filepath.Dir(dropIns))
	if err != nil || st.Mode().Perm() != 0o700 || filepath.Dir(dropIns) == filepath.Clean(os.TempDir()) {
		t.Errorf("registries.d drop-ins at %s: the directory must be private (%v, %v)", dropIns, st.Mode(), err)
	}
}

func TestPodmanKeepsThePlatformsThatBuiltWhenAnotherFails(t *testing.T) {
	// buildah lists no image of a call in which a platform failed: the
	// platform that was done is built again alone.
	f := &fakePodman{buildError: "exit status 3", failArch: "arm64"}
	e := fakeEngine(t, f)
	built, err := e.Build(context.Background(), enginetest.Request(t, nil, enginetest.AMD64, enginetest.ARM64))
	var be *errdefs.BuildError
	if len(built) != 1 || built[0].Platform.Architecture != "amd64" || !strings.HasPrefix(built[0].Ref, engine.HoldRepo+":") ||
		!errors.As(err, &be) || be.Platform != "linux/arm64" {
		t.Errorf("amd64 built, arm64 failed: got %+v, %v", built, err)
	}
	if len(f.lists) != 0 {
		t.Errorf("every call's list must go: %v", f.lists)
	}
}

func TestPodmanRemoveTouchesOnlyWhatFarmMade(t *testing.T) {
	f := &fakePodman{}
	e := fakeEngine(t, f)
	for _, id := range []string{"ours", "shared", "layer", "named-layer"} {
		f.images[id] = "amd64"
	}
	f.tags[engine.HoldRepo+":n-linux-amd64"] = "ours"
	f.tags[engine.CachedRepo+":n-linux-amd64"] = "shared"
	f.tags["team/app:prod"] = "shared"
	f.tags[engine.CachedRepo+":m-linux-amd64"] = "named-layer" // a later build's cache hit
	err := e.Remove(context.Background(), []string{engine.HoldRepo + ":n-linux-amd64", engine.CachedRepo + ":n-linux-amd64", "layer", "named-layer"})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"ours": false, "layer": false, "shared": true, "named-layer": true} {
		if _, ok := f.images[id]; ok != want {
			t.Errorf("image %s there = %v, want %v", id, ok, want)
		}
	}
	if f.tags["team/app:prod"] != "shared" || f.tags[engine.CachedRepo+":n-linux-amd64"] != "" {
		t.Errorf("a cache hit's farm name is only untagged: %v", f.tags)
	}
}
