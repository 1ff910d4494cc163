package cmd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/records"
)

// recordTwoBuilds records two builds made with fake engines on farm f:
// app:1 of linux/amd64, then registry.example/app:2 of both platforms.
// Both fail at storing (the fake's archive is not an image).
func recordTwoBuilds(t *testing.T) {
	t.Helper()
	mustCLI(t, "connection", "add", "amd1", "unix:///nonexistent/amd1.sock")
	mustCLI(t, "connection", "add", "arm1", "unix:///nonexistent/arm1.sock")
	mustCLI(t, "create", "f", "amd1", "arm1")
	dir := t.TempDir()
	writeFile(t, dir+"/Containerfile", "ARG BASE=docker.io/library/alpine:3.20\nFROM $BASE AS build\nFROM build\nFROM scratch\n")
	for _, b := range [][]string{{"linux/amd64", "app:1"}, {"linux/amd64,linux/arm64", "registry.example/app:2"}} {
		_, _, err := farmCLIWith(t, fakeOpener, "build", "--platforms", b[0], "--output", "type=oci,dest="+t.TempDir()+"/l", "-t", b[1], dir)
		if ExitCode(err) != exitOutput {
			t.Fatalf("build %s: %v", b[1], err)
		}
	}
}

// historyEntry is what scripts read of farm history --format json.
type historyEntry struct {
	ID, Farm, Result string
	Tags             []string
	Platforms        []struct{ Platform string }
}

func historyIDs(t *testing.T, args ...string) []historyEntry {
	t.Helper()
	var builds []historyEntry
	out := mustCLI(t, append([]string{"history", "--format", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &builds); err != nil {
		t.Fatalf("history %v: %v\n%s", args, err, out)
	}
	return builds
}

// farm history shows tags and platforms and filters by start, tag,
// result and farm; its JSON has RFC 3339 times.
func TestHistoryFiltersAndColumns(t *testing.T) {
	isolate(t)
	recordTwoBuilds(t)
	out := mustCLI(t, "history")
	for _, want := range []string{"TAGS", "PLATFORMS", "registry.example/app:2", "linux/amd64,linux/arm64", "app:1"} {
		if !strings.Contains(out, want) {
			t.Errorf("history table lacks %q:\n%s", want, out)
		}
	}
	all := historyIDs(t)
	if len(all) != 2 || strings.Join(all[0].Tags, ",") != "registry.example/app:2" || len(all[0].Platforms) != 2 || all[0].Farm != "f" {
		t.Fatalf("history: %+v", all)
	}
	raw := mustCLI(t, "history", "--format", "json")
	var loose []map[string]any
	if err := json.Unmarshal([]byte(raw), &loose); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"started", "finished"} {
		if _, err := time.Parse(time.RFC3339, loose[0][key].(string)); err != nil {
			t.Errorf("%s is not RFC 3339: %v", key, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--tag", "app:1"}, 1},
		{[]string{"--tag", "app"}, 0},
		{[]string{"--tag", "*app:*"}, 2},
		{[]string{"--tag", "registry.example/*"}, 1},
		{[]string{"--result", "failed"}, 2},
		{[]string{"--result", "success"}, 0},
		{[]string{"--since", "1h"}, 2},
		{[]string{"--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, 0},
		{[]string{"--since", time.Now().Add(-time.Hour).Format(time.RFC3339)}, 2},
		{[]string{"--farm", "f"}, 2},
		{[]string{"--farm", "other"}, 0},
		{[]string{"--farm", "f", "--tag", "app:1", "--result", "failed", "--since", "24h"}, 1},
	} {
		if got := historyIDs(t, tc.args...); len(got) != tc.want {
			t.Errorf("history %v: %d builds, want %d", tc.args, len(got), tc.want)
		}
	}
	for _, args := range [][]string{{"--result", "ok"}, {"--since", "yesterday"}, {"--since", "-1h"}, {"--format", "yaml"}} {
		if msg := wantExit(t, exitUsage, append([]string{"history"}, args...)...); !strings.Contains(msg, args[0]) {
			t.Errorf("history %v: %q does not name the flag", args, msg)
		}
	}
}

// farm inspect shows each platform's engine and version, native or
// emulated, and its base images, with "unknown" digests when they were
// not pinned.
func TestInspectShowsEnginesAndBases(t *testing.T) {
	isolate(t)
	recordTwoBuilds(t)
	all := historyIDs(t)
	// The JSON fields scripts read.
	var b struct {
		Platforms []struct {
			Platform, Engine, EngineVersion string
			Emulated                        bool
			BaseDigests                     map[string]string
		}
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "inspect", all[0].ID)), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Platforms) != 2 {
		t.Fatalf("platforms: %+v", b.Platforms)
	}
	for _, p := range b.Platforms {
		if p.Engine != "fake" || p.EngineVersion != "1.0" || p.Emulated {
			t.Errorf("%s: engine %q %q, emulated %v", p.Platform, p.Engine, p.EngineVersion, p.Emulated)
		}
		if len(p.BaseDigests) != 1 || p.BaseDigests["docker.io/library/alpine:3.20"] != records.UnknownDigest {
			t.Errorf("%s: base digests %v", p.Platform, p.BaseDigests)
		}
	}
	out := mustCLI(t, "inspect", "--format", "table", all[0].ID)
	for _, want := range []string{"INDEX", "TAGS", "registry.example/app:2", "ENGINE", "fake 1.0", "native", "docker.io/library/alpine:3.20 unknown", "failed (exit 4)"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect table lacks %q:\n%s", want, out)
		}
	}
	var cmp []baseComparison
	if err := json.Unmarshal([]byte(mustCLI(t, "inspect", all[0].ID, all[1].ID)), &cmp); err != nil || len(cmp) != 2 {
		t.Fatalf("compare: %v %+v", err, cmp)
	}
	for _, c := range cmp {
		if c.Same {
			t.Errorf("two unknown digests compared as the same: %+v", c)
		}
	}
}
