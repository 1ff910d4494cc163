package cmd

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmbuild/farm/farm"
)

// The FILES section of the man pages names the places farm really uses,
// with the environment set and with its defaults.
func TestFilesAreWhereFarmKeepsThem(t *testing.T) {
	home := isolate(t)
	expand := func(p string) string { return os.ExpandEnv(strings.Replace(p, "~", home, 1)) }
	docs := map[string]FileDoc{}
	for _, f := range Files() {
		docs[filepath.Base(f.Path)] = f
	}
	check := func(doc FileDoc, want string) {
		t.Helper()
		if got := expand(doc.Path); got != want {
			t.Errorf("documented %s, farm uses %s", got, want)
		}
	}
	state, _ := stateDir()
	check(docs["builds.db"], filepath.Join(state, "builds.db"))
	bo := farm.BuildOptions{}
	schedulingFacts(&rootOptions{logger: slog.New(slog.DiscardHandler)}, &bo)
	check(docs["store"], bo.StoreDir)
	mustCLI(t, "connection", "add", "n", "unix:///n.sock")
	mustCLI(t, "connection", "update", "n", "--weight", "2")
	if _, err := os.Stat(expand(docs["nodes.json"].Path)); err != nil {
		t.Errorf("nodes.json is not where the docs say: %v", err)
	}
	if _, err := os.Stat(os.Getenv("PODMAN_CONNECTIONS_CONF")); err != nil || docs["$PODMAN_CONNECTIONS_CONF"].Path == "" {
		t.Errorf("connections file: %v", err)
	}

	// Without the XDG variables: the defaults under the home directory.
	for _, env := range []string{"XDG_STATE_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(env, "")
	}
	state, _ = stateDir()
	if got := expand(docs["builds.db"].Default); got != filepath.Join(state, "builds.db") {
		t.Errorf("default records %s, farm uses %s", got, state)
	}
	schedulingFacts(&rootOptions{logger: slog.New(slog.DiscardHandler)}, &bo)
	if got := expand(docs["store"].Default); got != bo.StoreDir {
		t.Errorf("default store %s, farm uses %s", got, bo.StoreDir)
	}
}
