package records

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Query selects builds by start time, tag (exactly or by glob), result
// and farm, and returns each with its tags and platforms.
func TestQueryFilters(t *testing.T) {
	r, _, err := Open(filepath.Join(t.TempDir(), "farm"))
	must(t, err)
	defer r.Close()
	now := time.Now()
	for _, b := range []struct {
		id, farm, result string
		age              time.Duration
		args             []string
	}{
		{"old1", "f1", "success", 48 * time.Hour, []string{"build", "--tag=registry.example/app:1", "."}},
		{"new1", "f1", "failed", time.Hour, []string{"build", "--tag=registry.example/app:2", "--tag=app:latest", "."}},
		{"new2", "f2", "success", time.Minute, []string{"build", "-t", "other:1", "."}},
	} {
		must(t, r.Start(BuildRecord{ID: b.id, Started: now.Add(-b.age), Args: b.args, Farm: b.farm}))
		must(t, r.Finish(b.id, Outcome{Result: b.result, Platforms: []PlatformRecord{{Platform: "linux/amd64", Node: "n"}}}))
	}
	ids := func(f Filter) []string {
		t.Helper()
		builds, err := r.Query(f)
		must(t, err)
		out := []string{}
		for _, b := range builds {
			out = append(out, b.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{"new2", "new1", "old1"}},
		{Filter{Since: now.Add(-24 * time.Hour)}, []string{"new2", "new1"}},
		{Filter{Tag: "app:latest"}, []string{"new1"}},
		{Filter{Tag: "app"}, []string{}},
		{Filter{Tag: "registry.example/*"}, []string{"new1", "old1"}},
		{Filter{Tag: "*:1"}, []string{"new2", "old1"}},
		{Filter{Tag: "registry.example/app:?"}, []string{"new1", "old1"}},
		{Filter{Result: "success"}, []string{"new2", "old1"}},
		{Filter{Farm: "f1"}, []string{"new1", "old1"}},
		{Filter{Farm: "f1", Result: "failed", Since: now.Add(-2 * time.Hour), Tag: "*app*"}, []string{"new1"}},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("Query(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	builds, err := r.Query(Filter{Tag: "app:latest"})
	must(t, err)
	if b := builds[0]; !slices.Equal(b.Tags, []string{"registry.example/app:2", "app:latest"}) || len(b.Platforms) != 1 || b.Platforms[0].Platform != "linux/amd64" {
		t.Errorf("tags and platforms: %+v", b)
	}
}

func TestTagsOf(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"build", "--tag=a:1", "--platforms=linux/amd64", "--tag=b:2", "."}, []string{"a:1", "b:2"}},
		{[]string{"build", "-t", "a:1", "--tag", "b", "-tc:3", "-t=d", "."}, []string{"a:1", "b", "c:3", "d"}},
		{[]string{"build", "--", "-t", "x"}, []string{}},
		{[]string{"build", "-t"}, []string{}},
	} {
		if got := TagsOf(tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("TagsOf(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// A base digest the records do not know reads as "unknown", never as an
// empty string.
func TestUnknownBaseDigests(t *testing.T) {
	r, _, err := Open(filepath.Join(t.TempDir(), "farm"))
	must(t, err)
	defer r.Close()
	must(t, r.Start(BuildRecord{ID: "b", Started: time.Now()}))
	must(t, r.Finish("b", Outcome{Result: "success", Platforms: []PlatformRecord{{Platform: "linux/amd64", Node: "n",
		BaseDigests: map[string]string{"docker.io/library/alpine:3": "", "docker.io/library/golang:1": "sha256:g"}}}}))
	b, err := r.Get("b")
	must(t, err)
	if d := b.Platforms[0].BaseDigests; d["docker.io/library/alpine:3"] != UnknownDigest || d["docker.io/library/golang:1"] != "sha256:g" {
		t.Errorf("base digests = %v", d)
	}
}
