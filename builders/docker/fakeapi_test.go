package docker

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/internal/enginetest"
)

// fakeDocker answers the parts of the Docker Engine API that the driver
// uses, at API 1.41 (BuildKit builds), from memory.
type fakeDocker struct {
	mu sync.Mutex
	// arch is the architecture of the images builds make ("" = asked for).
	arch string
	// buildError, when set, makes builds replay a recorded failing
	// BuildKit stream.
	buildError bool
	// pushError, when set, is the error record a push stream ends with.
	pushError string
	// tags maps references to image IDs; images holds the IDs.
	tags   map[string]string
	images map[string]string // ID -> architecture
	// files are the build context's file names, as the last build got them.
	files []string
	// cached makes builds hand back this image (a cache hit).
	cached string
	builds int
	exit   int
	// noSession refuses /session, as an engine that cannot open one.
	noSession bool
	// sessions is the fake's side of BuildKit sessions (session_test.go).
	sessions *fakeSessions
	// askAuth are the registry hosts each build asks the session's auth
	// service about, as BuildKit does when a registry wants a login
	// (sessionauth_test.go).
	askAuth []string
	// registryConfig is the last build's X-Registry-Config, decoded.
	registryConfig string
}

var apiPath = regexp.MustCompile(`^/v[0-9.]+`)

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := apiPath.ReplaceAllString(r.URL.Path, "")
	if path == "/session" && f.sessions != nil {
		f.sessions.serve(w, r) // until the session ends: not under f.mu
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	w.Header().Set("Api-Version", "1.41")
	switch {
	case path == "/_ping":
		_, _ = io.WriteString(w, "OK")
	case path == "/build" && r.Method == http.MethodPost:
		f.build(w, r)
	case path == "/images/json":
		var list []map[string]string
		for id := range f.images {
			list = append(list, map[string]string{"Id": id})
		}
		_ = json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/json")
		id, ok := f.resolve(name)
		if !ok {
			http.Error(w, `{"message":"No such image: `+name+`"}`, http.StatusNotFound)
			return
		}
		var tags []string
		for t, tid := range f.tags {
			if tid == id {
				tags = append(tags, t)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Id": id, "Os": "linux", "Architecture": f.images[id], "RepoTags": tags})
	case strings.HasSuffix(path, "/tag"):
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/images/"), "/tag")
		id, ok := f.resolve(name)
		if !ok {
			http.Error(w, `{"message":"No such image: `+name+`"}`, http.StatusNotFound)
			return
		}
		f.tags[q.Get("repo")+":"+q.Get("tag")] = id
		w.WriteHeader(http.StatusCreated)
	case strings.HasSuffix(path, "/push"):
		if f.pushError != "" {
			_, _ = io.WriteString(w, `{"status":"pushing"}`+"\n"+`{"error":"`+f.pushError+`"}`+"\n")
			return
		}
		_, _ = io.WriteString(w, `{"status":"pushed"}`+"\n")
	case strings.HasPrefix(path, "/images/") && r.Method == http.MethodDelete:
		f.remove(w, strings.TrimPrefix(path, "/images/"))
	case path == "/containers/create":
		_, _ = io.WriteString(w, `{"Id":"c1"}`)
	case strings.HasSuffix(path, "/start"):
		w.WriteHeader(http.StatusNoContent)
	case strings.HasSuffix(path, "/wait"):
		_, _ = fmt.Fprintf(w, `{"StatusCode":%d}`, f.exit)
	case strings.HasSuffix(path, "/logs"):
		_, _ = w.Write(enginetest.LogFrames("first line\n", "second line\n"))
	case strings.HasPrefix(path, "/containers/") && r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, `{"message":"fake: `+r.Method+" "+path+`"}`, http.StatusNotImplemented)
	}
}

// resolve finds an image by ID or tag.
func (f *fakeDocker) resolve(name string) (string, bool) {
	if _, ok := f.images[name]; ok {
		return name, true
	}
	id, ok := f.tags[name]
	return id, ok
}

// remove deletes a tag, and the image with its last tag, as docker does.
func (f *fakeDocker) remove(w http.ResponseWriter, name string) {
	if id, ok := f.tags[name]; ok {
		delete(f.tags, name)
		for _, other := range f.tags {
			if other == id {
				_, _ = io.WriteString(w, "[]")
				return
			}
		}
		delete(f.images, id)
	} else {
		delete(f.images, name)
	}
	_, _ = io.WriteString(w, "[]")
}

func (f *fakeDocker) build(w http.ResponseWriter, r *http.Request) {
	f.builds++
	f.files = nil
	rc, _ := base64.URLEncoding.DecodeString(r.Header.Get("X-Registry-Config"))
	f.registryConfig = string(rc)
	if q := r.URL.Query(); q.Get("remote") == "client-session" {
		if err := f.sessions.sync(r.Context(), q.Get("session"), &f.files); err != nil {
			http.Error(w, `{"message":"`+err.Error()+`"}`, http.StatusInternalServerError)
			return
		}
		if err := f.sessions.askAuth(r.Context(), q.Get("session"), f.askAuth); err != nil {
			http.Error(w, `{"message":"`+err.Error()+`"}`, http.StatusInternalServerError)
			return
		}
	} else if gz, err := gzip.NewReader(r.Body); err == nil {
		tr := tar.NewReader(gz)
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			f.files = append(f.files, h.Name)
		}
	}
	if f.buildError {
		data, _ := os.ReadFile("testdata/buildkit-error.json")
		_, _ = w.Write(data)
		return
	}
	var p ocispec.Platform
	_ = json.Unmarshal([]byte(r.URL.Query().Get("platform")), &p)
	if p.Architecture == "" {
		_, arch, _ := strings.Cut(r.URL.Query().Get("platform"), "/")
		p.Architecture = strings.Split(arch, "/")[0]
	}
	arch := f.arch
	if arch == "" {
		arch = p.Architecture
	}
	id := fmt.Sprintf("sha256:%064d", f.builds)
	if f.cached != "" {
		id = f.cached
	}
	f.images[id] = arch
	for _, t := range r.URL.Query()["t"] {
		if !strings.Contains(t, ":") {
			t += ":latest"
		}
		f.tags[t] = id
	}
	_, _ = io.WriteString(w, `{"id":"moby.image.id","aux":{"ID":"`+id+`"}}`+"\n")
}

func fakeEngine(t *testing.T, f *fakeDocker) *Engine {
	t.Helper()
	if f.tags == nil {
		f.tags, f.images = map[string]string{}, map[string]string{}
	}
	if !f.noSession {
		f.sessions = newFakeSessions(t)
	}
	e, err := New(context.Background(), enginetest.NewLink(t, "dk", f))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestBuildTagsEachResultAndPushKeepsIt(t *testing.T) {
	f := &fakeDocker{}
	e := fakeEngine(t, f)
	built, err := e.Build(context.Background(), enginetest.Request(t, map[string]string{"app.txt": "app", ".env": "SECRET=1", ".dockerignore": ".env\n"}, enginetest.AMD64, enginetest.ARM64))
	if err != nil || len(built) != 2 {
		t.Fatalf("Build = %+v, %v", built, err)
	}
	if strings.Contains(strings.Join(f.files, ","), ".env") || !strings.Contains(strings.Join(f.files, ","), "app.txt") {
		t.Errorf("the context must leave out what .dockerignore excludes: %v", f.files)
	}
	holds := 0
	for ref := range f.tags {
		if strings.HasPrefix(ref, holdRepo+":") {
			holds++
		}
	}
	if holds != 2 {
		t.Errorf("each result needs a hold tag: %v", f.tags)
	}
	// Two pushes of one image: the temporary tag goes, the image stays.
	for _, ref := range []string{"r.example/a:1", "r.example/b:1"} {
		if err := e.Push(context.Background(), built[0].ImageID, ref, engine.PushOptions{}); err != nil {
			t.Fatalf("push to %s: %v", ref, err)
		}
	}
	if _, ok := f.images[built[0].ImageID]; !ok {
		t.Error("pushing deleted the built image")
	}
	if got, err := e.Existing(context.Background(), []string{built[0].ImageID, "sha256:gone"}); err != nil || len(got) != 1 {
		t.Errorf("Existing = %v, %v", got, err)
	}
}

func TestBuildRebuildsAnImageOfTheWrongPlatform(t *testing.T) {
	f := &fakeDocker{arch: "amd64"} // the cache hands back amd64 whatever was asked
	e := fakeEngine(t, f)
	_, err := e.Build(context.Background(), enginetest.Request(t, map[string]string{"app.txt": "app", ".env": "SECRET=1", ".dockerignore": ".env\n"}, enginetest.ARM64))
	var be *errdefs.BuildError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "docker built a linux/amd64 image for linux/arm64") || f.builds != 2 {
		t.Errorf("a wrong platform is built again without the cache, then reported: %v (%d builds)", err, f.builds)
	}
	if len(f.tags) != 0 || len(f.images) != 0 {
		t.Errorf("images of the wrong platform keep farm's tag: %v %v", f.tags, f.images)
	}
}

func TestBuildErrorsAreTheEngines(t *testing.T) {
	f := &fakeDocker{buildError: true}
	e := fakeEngine(t, f)
	_, err := e.Build(context.Background(), enginetest.Request(t, map[string]string{"app.txt": "app", ".env": "SECRET=1", ".dockerignore": ".env\n"}, enginetest.AMD64))
	var reported *errdefs.EngineError
	var be *errdefs.BuildError
	if !errors.As(err, &reported) || !errors.As(err, &be) || !strings.HasPrefix(be.Step, "2/3 : RUN uname") {
		t.Errorf("a build error from the stream is the engine's, with its step: %v", err)
	}
}

func TestPushReportsTheStreamsError(t *testing.T) {
	f := &fakeDocker{pushError: "denied: requested access to the resource is denied"}
	e := fakeEngine(t, f)
	built, err := e.Build(context.Background(), enginetest.Request(t, map[string]string{"app.txt": "app", ".env": "SECRET=1", ".dockerignore": ".env\n"}, enginetest.AMD64))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Push(context.Background(), built[0].ImageID, "r.example/a:1", engine.PushOptions{}); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("an error inside the push stream: %v", err)
	}
}

func TestTestRunsAContainerAndReadsItsOutput(t *testing.T) {
	f := &fakeDocker{exit: 3}
	e := fakeEngine(t, f)
	var lines []string
	code, err := e.Test(context.Background(), "sha256:x", "make check", func(l string) { lines = append(lines, l) })
	if err != nil || code != 3 || strings.Join(lines, "|") != "first line|second line" {
		t.Errorf("Test = %d, %v, %q", code, err, lines)
	}
}

func TestRemoveIgnoresImagesAlreadyGone(t *testing.T) {
	f := &fakeDocker{}
	e := fakeEngine(t, f)
	built, err := e.Build(context.Background(), enginetest.Request(t, map[string]string{"app.txt": "app", ".env": "SECRET=1", ".dockerignore": ".env\n"}, enginetest.AMD64))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Remove(context.Background(), []string{built[0].Ref}); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, ok := f.images[built[0].ImageID]; ok {
		t.Error("the image is still there")
	}
	if err := e.Remove(context.Background(), []string{built[0].Ref}); err != nil {
		t.Errorf("Remove of an image already gone: %v", err)
	}
}

func TestDockerCacheHitIsNeverRemoved(t *testing.T) {
	// A teammate's image, and one nobody named: the cache hands each back.
	for _, teammateTag := range []string{"team/app:prod", ""} {
		existing := fmt.Sprintf("sha256:%064d", 99)
		f := &fakeDocker{cached: existing}
		e := fakeEngine(t, f)
		f.images[existing] = "amd64"
		if teammateTag != "" {
			f.tags[teammateTag] = existing
		}
		built, err := e.Build(context.Background(), enginetest.Request(t, nil, enginetest.AMD64))
		if err != nil || len(built) != 1 || !strings.HasPrefix(built[0].Ref, engine.CachedRepo+":") {
			t.Fatalf("a cache hit is named in %s: %+v, %v", engine.CachedRepo, built, err)
		}
		if err := e.Remove(context.Background(), []string{built[0].Ref}); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.images[existing]; !ok {
			t.Errorf("removing farm's name deleted an image farm did not create (tag %q)", teammateTag)
		}
		if teammateTag != "" && f.tags[teammateTag] != existing {
			t.Errorf("the teammate's tag is gone")
		}
	}
}
