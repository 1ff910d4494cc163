package farm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
)

// imageStore is a fake engine holding images; Remove removes them.
type imageStore struct {
	fakeBuilder
	images  map[string]bool
	removed []string
}

func (s *imageStore) Existing(_ context.Context, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		if s.images[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func (s *imageStore) Remove(_ context.Context, ids []string) error {
	for _, id := range ids {
		delete(s.images, id)
		s.removed = append(s.removed, id)
	}
	return nil
}

func TestPruneRemovesOnlyWhatTheRecordsListAndReportsDownNodes(t *testing.T) {
	// The nodes are this machine: their context cache is in this HOME.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "")
	blob := filepath.Join(home, ".cache/farm/context/blobs/0000-644-1")
	if err := os.MkdirAll(filepath.Dir(blob), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	store := &imageStore{fakeBuilder: fakeBuilder{name: "ok"}, images: map[string]bool{"a": true, "b": true, "k": true, "teammate": true}}
	open := func(_ context.Context, l engine.Link) (engine.Builder, error) {
		if l.Node() == "down" {
			return nil, errors.New("dial unix /nonexistent/down.sock: connect: connection refused")
		}
		return store, nil
	}
	conns := []config.Connection{{Name: "ok", URI: "unix:///nonexistent/ok.sock"}, {Name: "down", URI: "unix:///nonexistent/down.sock"}}
	opts := PruneOptions{
		Built: map[string][]string{"unix:/nonexistent/ok.sock": {"a", "b", "k", "gone"}, "unix:/nonexistent/down.sock": {"x"}},
		Keep:  map[string]map[string]bool{"unix:/nonexistent/ok.sock": {"k": true}},
	}

	dry, err := Prune(context.Background(), conns, open, PruneOptions{Built: opts.Built, Keep: opts.Keep, DryRun: true})
	if len(store.removed) != 0 || len(dry) != 2 || strings.Join(dry[0].Removed, ",") != "a,b" || !errors.Is(err, errdefs.ErrNodeDown) {
		t.Fatalf("--dry-run: %+v, %v, removed %v", dry, err, store.removed)
	}

	if c := dry[0].ContextCache; c == nil || c.Blobs != 1 || c.Bytes < 8192 || c.FreedBytes != -1 {
		t.Errorf("--dry-run: the context cache %+v", c)
	}
	if _, err := os.Stat(blob); err != nil {
		t.Errorf("--dry-run emptied the context cache: %v", err)
	}
	res, err := Prune(context.Background(), conns, open, opts)
	if c := res[0].ContextCache; c == nil || c.Blobs != 1 || c.FreedBytes < 8192 || c.Error != "" {
		t.Errorf("the context cache %+v", c)
	}
	if _, err := os.Stat(blob); !os.IsNotExist(err) {
		t.Errorf("prune left the context cache's blob: %v", err)
	}
	if !errors.Is(err, errdefs.ErrNodeDown) || !strings.Contains(err.Error(), "down") {
		t.Errorf("a node that cannot be reached is reported as down: %v", err)
	}
	if slices.Sort(store.removed); strings.Join(store.removed, ",") != "a,b" || res[0].Kept != 1 {
		t.Errorf("removed %v, kept %d: want a and b removed, k kept", store.removed, res[0].Kept)
	}
	if !store.images["teammate"] || !store.images["k"] {
		t.Errorf("prune removed what farm did not build, or what it keeps: %v", store.images)
	}
	if res[1].Node != "down" || res[1].Error == "" {
		t.Errorf("the down node's row: %+v", res[1])
	}
}
