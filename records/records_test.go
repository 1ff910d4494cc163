package records

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/errdefs"
)

func TestRecords(t *testing.T) {
	state := t.TempDir()
	r, warning, err := Open(filepath.Join(state, "farm"))
	must(t, err)
	if warning != "" {
		t.Errorf("fresh records warn: %s", warning)
	}
	defer r.Close()
	start := time.Now().Add(-time.Hour)
	must(t, r.Start(BuildRecord{ID: "aaa111", Started: start, User: "u", Args: []string{"build", "."}, Farm: "f"}))
	must(t, r.Log("aaa111", "linux/arm64", "STEP 1/2: FROM base"))
	must(t, r.Log("aaa111", "linux/arm64", "aarch64"))
	must(t, r.Finish("aaa111", Outcome{Result: "success", Index: "sha256:idx",
		Platforms: []PlatformRecord{{Platform: "linux/arm64", Node: "p1", Emulated: true, ImageID: "x", Seconds: 2, Attempts: 2}}}))
	must(t, r.Start(BuildRecord{ID: "aab222", Started: start.Add(time.Minute), User: "u", Args: []string{"build"}}))
	must(t, r.Finish("aab222", Outcome{Result: "failed", ExitCode: 1, Error: "building linux/amd64 on p1:\nfailed",
		Platforms: []PlatformRecord{{Platform: "linux/amd64", Node: "p1", Seconds: 9, Error: "failed"}}}))
	durations, err := r.Durations()
	must(t, err)
	if durations["p1"]["linux/arm64"] != 2*time.Second || len(durations["p1"]) != 1 {
		t.Errorf("durations of successful platforms = %v", durations)
	}

	list, err := r.List()
	must(t, err)
	if len(list) != 2 || list[0].ID != "aab222" || list[0].Result != "failed" || list[0].Error != "building linux/amd64 on p1: failed" {
		t.Errorf("list = %+v", list)
	}
	b, err := r.Get("aaa")
	must(t, err)
	if b.Result != "success" || b.Index != "sha256:idx" || len(b.Platforms) != 1 || b.Platforms[0].Attempts != 2 || !b.Platforms[0].Emulated {
		t.Errorf("get = %+v", b)
	}
	data, err := os.ReadFile(b.Platforms[0].Log)
	must(t, err)
	if string(data) != "STEP 1/2: FROM base\naarch64\n" {
		t.Errorf("log = %q", data)
	}
	if _, err := r.Get("aa"); !errors.Is(err, errdefs.ErrUsage) {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := r.Get("zzz"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	n, err := r.Prune(1, 0)
	must(t, err)
	if list, _ := r.List(); n != 1 || len(list) != 1 || list[0].ID != "aab222" {
		t.Errorf("prune --keep 1 removed %d, left %+v", n, list)
	}
	if _, err := os.Stat(filepath.Join(state, "farm", "logs", "aaa111")); !os.IsNotExist(err) {
		t.Errorf("pruned build's logs remain: %v", err)
	}
}

func TestRecordsDamagedDatabaseIsSetAside(t *testing.T) {
	state := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(state, "farm"), 0o700))
	must(t, os.WriteFile(filepath.Join(state, "farm", "builds.db"), []byte("this is not a database, but somebody's data"), 0o600))
	r, warning, err := Open(filepath.Join(state, "farm"))
	must(t, err)
	defer r.Close()
	if !strings.Contains(warning, "moved aside") {
		t.Errorf("warning = %q", warning)
	}
	matches, _ := filepath.Glob(filepath.Join(state, "farm", "builds.db.damaged-*"))
	if len(matches) != 1 {
		t.Fatalf("damaged database not kept: %v", matches)
	}
	if data, _ := os.ReadFile(matches[0]); !strings.Contains(string(data), "somebody's data") {
		t.Errorf("the damaged file was changed")
	}
	must(t, r.Start(BuildRecord{ID: "new", Started: time.Now()}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPruneSetsKeepOnlyTheNewestPushedBuild(t *testing.T) {
	r, _, err := Open(t.TempDir())
	must(t, err)
	defer r.Close()
	start := time.Now().Add(-time.Hour)
	builds := []struct {
		id, output string
		args       []string
	}{
		{"old-push", "push", nil},
		{"new-push", "push", nil},
		{"newest-local", "local", nil},
		{"legacy-push", "", []string{"build", "--push=true"}}, // recorded before outputs were kept: oldest
	}
	for i, b := range builds {
		started := start.Add(time.Duration(i) * time.Minute)
		if b.id == "legacy-push" {
			started = start.Add(-time.Minute)
		}
		must(t, r.Start(BuildRecord{ID: b.id, Started: started, Args: b.args, Output: b.output}))
		must(t, r.Finish(b.id, Outcome{Result: "success", Platforms: []PlatformRecord{
			{Platform: "linux/amd64", Node: "n", ImageID: "sha256:img-" + b.id, NodeID: "n", ImageRef: "img-" + b.id, Intermediate: []string{"layer-" + b.id}}}}))
	}
	built, keep, err := r.PruneSets(false)
	must(t, err)
	if len(built["n"]) != 8 {
		t.Errorf("every image and layer farm built is known: %v", built["n"])
	}
	want := map[string]bool{"img-new-push": true, "layer-new-push": true}
	if len(keep["n"]) != len(want) {
		t.Errorf("keep = %v, want only the newest pushed build's images %v", keep["n"], want)
	}
	for id := range want {
		if !keep["n"][id] {
			t.Errorf("%s must be kept: %v", id, keep["n"])
		}
	}
	if _, keep, _ := r.PruneSets(true); len(keep["n"]) != 0 {
		t.Errorf("--all keeps nothing: %v", keep["n"])
	}
}

func TestPruneSetsReadLegacyPushes(t *testing.T) {
	r, _, err := Open(t.TempDir())
	must(t, err)
	defer r.Close()
	// Recorded before outputs were kept: only the arguments say it pushed.
	must(t, r.Start(BuildRecord{ID: "legacy", Started: time.Now(), Args: []string{"build", "--push=true"}}))
	must(t, r.Finish("legacy", Outcome{Result: "success", Platforms: []PlatformRecord{{Platform: "linux/amd64", Node: "n", ImageID: "sha256:img", NodeID: "n", ImageRef: "img"}}}))
	if _, keep, err := r.PruneSets(false); err != nil || !keep["n"]["img"] {
		t.Errorf("the newest push, recorded by its arguments, is kept: %v, %v", keep, err)
	}
}

func TestPruneSetsNameImagesOnlyByFarmsNames(t *testing.T) {
	// A platform recorded with an image ID but no name of farm's (older
	// records) may be another user's image the cache handed back: prune
	// must not learn it.
	r, _, err := Open(t.TempDir())
	must(t, err)
	defer r.Close()
	must(t, r.Start(BuildRecord{ID: "b", Started: time.Now(), Output: "local"}))
	must(t, r.Finish("b", Outcome{Result: "success", Platforms: []PlatformRecord{
		{Platform: "linux/amd64", Node: "n", ImageID: "sha256:teammates", Intermediate: []string{"layer"}},
		{Platform: "linux/arm64", Node: "n", NodeID: "SHA256:key:/run/podman.sock", ImageID: "sha256:ours", ImageRef: "localhost/farm-build:x-linux-arm64"}}}))
	built, _, err := r.PruneSets(false)
	must(t, err)
	// Keyed by the node's identity: a connection "n" pointed at another
	// machine later finds nothing to remove there.
	if len(built) != 1 || strings.Join(built["SHA256:key:/run/podman.sock"], ",") != "localhost/farm-build:x-linux-arm64" {
		t.Errorf("prune may remove only what farm named, on the node that built it: %v", built)
	}
}
