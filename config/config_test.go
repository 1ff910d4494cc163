package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/farmbuild/farm/errdefs"
)

// isolate points podman's configuration at a fresh directory and returns
// the path of podman-connections.json. containersConf, when not empty, is
// written as the only containers.conf.
func isolate(t *testing.T, containersConf string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAINERS_CONF", conf)
	t.Setenv("CONTAINERS_CONF_OVERRIDE", "")
	path := filepath.Join(dir, "containers", "podman-connections.json")
	t.Setenv("PODMAN_CONNECTIONS_CONF", path)
	return path
}

func names[T any](items []T, name func(T) string) string {
	var out []string
	for _, i := range items {
		out = append(out, name(i))
	}
	return strings.Join(out, ",")
}

func connNames(cs []Connection) string { return names(cs, func(c Connection) string { return c.Name }) }

func TestStoreConnections(t *testing.T) {
	path := isolate(t, `
[engine]
active_service = "legacy"
[engine.service_destinations.legacy]
uri = "ssh://root@legacy:22/run/podman/podman.sock"
identity = "/keys/legacy"
[engine.service_destinations.shadowed]
uri = "ssh://old/x.sock"
`)
	var s Store
	must(t, s.AddConnection(Connection{Name: "b", URI: "ssh://root@b:22/run/podman/podman.sock", Identity: "/k"}, false))
	must(t, s.AddConnection(Connection{Name: "a", URI: "unix:///run/a.sock"}, false))
	must(t, s.AddConnection(Connection{Name: "shadowed", URI: "ssh://new/x.sock"}, false))
	if err := s.AddConnection(Connection{Name: "a", URI: "unix:///x"}, false); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("duplicate add: %v", err)
	}
	if err := s.AddConnection(Connection{Name: "bad", URI: "tcp://x"}, false); !errors.Is(err, errdefs.ErrInvalidDestination) {
		t.Fatalf("bad URI: %v", err)
	}
	if err := s.AddConnection(Connection{Name: "a/b", URI: "unix:///x"}, false); err == nil {
		t.Fatal("bad name accepted")
	}
	conns, err := s.Connections()
	must(t, err)
	if got := connNames(conns); got != "a,b,legacy,shadowed" {
		t.Fatalf("connections = %s", got)
	}
	byName := map[string]Connection{}
	for _, c := range conns {
		byName[c.Name] = c
	}
	if !byName["b"].Default || byName["a"].Default || byName["legacy"].Default {
		t.Errorf("the first connection added must be the default: %+v", conns)
	}
	if byName["legacy"].ReadWrite || !byName["a"].ReadWrite || byName["legacy"].Identity != "/keys/legacy" {
		t.Errorf("containers.conf connection: %+v", byName["legacy"])
	}
	if byName["shadowed"].URI != "ssh://new/x.sock" {
		t.Errorf("podman-connections.json must win on a name clash: %+v", byName["shadowed"])
	}

	// The file has podman's own shape.
	var file struct {
		Connection struct {
			Default     string
			Connections map[string]map[string]any
		}
	}
	data, err := os.ReadFile(path)
	must(t, err)
	must(t, json.Unmarshal(data, &file))
	if file.Connection.Default != "b" || file.Connection.Connections["b"]["URI"] != "ssh://root@b:22/run/podman/podman.sock" || file.Connection.Connections["b"]["Identity"] != "/k" {
		t.Errorf("file = %s", data)
	}
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Errorf("podman's lock file is not used: %v", err)
	}

	must(t, s.AddConnection(Connection{Name: "c", URI: "unix:///c"}, true))
	c, err := s.Connection("c")
	must(t, err)
	if !c.Default {
		t.Errorf("--default not honoured")
	}
	if _, err := s.Connection("nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing connection: %v", err)
	}
}

func TestStoreRemoveAndRename(t *testing.T) {
	isolate(t, "[engine.service_destinations.legacy]\nuri = \"unix:///l\"\n")
	var s Store
	must(t, s.AddConnection(Connection{Name: "a", URI: "unix:///a"}, false))
	must(t, s.AddConnection(Connection{Name: "b", URI: "unix:///b"}, false))
	must(t, s.CreateFarm("f", []string{"a", "b"}))

	must(t, s.RenameConnection("a", "a2"))
	c, err := s.Connection("a2")
	must(t, err)
	if !c.Default || c.URI != "unix:///a" {
		t.Errorf("renamed connection lost its default or URI: %+v", c)
	}
	farms, err := s.Farms()
	must(t, err)
	if strings.Join(farms[0].Connections, ",") != "a2,b" {
		t.Errorf("rename not applied to farm: %+v", farms)
	}
	if err := s.RenameConnection("b", "a2"); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("rename onto existing: %v", err)
	}
	if err := s.RenameConnection("zz", "y"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("rename missing: %v", err)
	}
	if err := s.RemoveConnection("legacy"); err == nil || !strings.Contains(err.Error(), "containers.conf") {
		t.Errorf("removing a containers.conf connection: %v", err)
	}

	must(t, s.RemoveConnection("a2"))
	farms, err = s.Farms()
	must(t, err)
	if strings.Join(farms[0].Connections, ",") != "b" {
		t.Errorf("removed connection still in farm: %+v", farms)
	}
	conns, err := s.Connections()
	must(t, err)
	for _, c := range conns {
		if c.Default {
			t.Errorf("default not cleared after removing it: %+v", c)
		}
	}
	if err := s.RemoveConnection("a2"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("removing twice: %v", err)
	}
}

func TestStoreFarms(t *testing.T) {
	isolate(t, `
[engine.service_destinations.legacy]
uri = "unix:///l"
[farms]
default = "conffarm"
[farms.list]
conffarm = ["legacy"]
`)
	var s Store
	must(t, s.AddConnection(Connection{Name: "a", URI: "unix:///a"}, false))
	must(t, s.AddConnection(Connection{Name: "b", URI: "unix:///b"}, false))

	// Before any JSON farm, containers.conf's default farm applies.
	name, conns, err := s.FarmConnections("")
	must(t, err)
	if name != "conffarm" || connNames(conns) != "legacy" {
		t.Fatalf("containers.conf default farm: %s %s", name, connNames(conns))
	}

	must(t, s.CreateFarm("one", []string{"a", "a"}))
	must(t, s.CreateFarm("two", []string{"a", "b"}))
	must(t, s.CreateFarm("empty", nil))
	if err := s.CreateFarm("one", nil); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("duplicate farm: %v", err)
	}
	if err := s.CreateFarm("x", []string{"nope"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("farm with unknown connection: %v", err)
	}
	if err := s.CreateFarm("x", []string{"legacy"}); err == nil || !strings.Contains(err.Error(), "containers.conf") {
		t.Errorf("JSON farm naming a containers.conf connection: %v", err)
	}
	farms, err := s.Farms()
	must(t, err)
	if got := names(farms, func(f Farm) string {
		return fmt.Sprintf("%s:%s:%v", f.Name, strings.Join(f.Connections, "+"), f.Default)
	}); got != "conffarm:legacy:false,empty::false,one:a:true,two:a+b:false" {
		t.Fatalf("farms = %s", got)
	}

	name, conns, err = s.FarmConnections("")
	must(t, err)
	if name != "one" || connNames(conns) != "a" {
		t.Errorf("default farm: %s %s", name, connNames(conns))
	}
	_, conns, err = s.FarmConnections("two")
	must(t, err)
	if connNames(conns) != "a,b" {
		t.Errorf("farm two: %s", connNames(conns))
	}
	if _, _, err := s.FarmConnections("nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown farm: %v", err)
	}

	yes, no := true, false
	must(t, s.UpdateFarm("two", FarmUpdate{Remove: []string{"a"}, Default: &yes}))
	must(t, s.UpdateFarm("empty", FarmUpdate{Add: []string{"a", "b"}}))
	if err := s.UpdateFarm("two", FarmUpdate{Remove: []string{"a"}}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("removing a connection not in the farm: %v", err)
	}
	if err := s.UpdateFarm("nope", FarmUpdate{Default: &yes}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("updating unknown farm: %v", err)
	}
	name, conns, err = s.FarmConnections("")
	must(t, err)
	if name != "two" || connNames(conns) != "b" {
		t.Errorf("after update: %s %s", name, connNames(conns))
	}

	must(t, s.RemoveFarms([]string{"two"}, false))
	farms, err = s.Farms()
	must(t, err)
	for _, f := range farms {
		if f.Default && f.Name != "empty" {
			t.Errorf("after removing the default, the first remaining JSON farm must be default: %+v", farms)
		}
	}
	must(t, s.UpdateFarm("empty", FarmUpdate{Default: &no}))
	if err := s.RemoveFarms([]string{"one", "nope"}, false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("removing an unknown farm: %v", err)
	}
	if _, err := s.Connection("a"); err != nil {
		t.Errorf("a failed removal must change nothing: %v", err)
	}
	must(t, s.RemoveFarms(nil, true))
	farms, err = s.Farms()
	must(t, err)
	if got := names(farms, func(f Farm) string { return f.Name }); got != "conffarm" {
		t.Errorf("after --all: %s", got)
	}
}

func TestFarmConnectionsWithoutFarms(t *testing.T) {
	isolate(t, "")
	var s Store
	must(t, s.AddConnection(Connection{Name: "z", URI: "unix:///z"}, false))
	must(t, s.AddConnection(Connection{Name: "y", URI: "unix:///y"}, false))
	name, conns, err := s.FarmConnections("")
	must(t, err)
	if name != "" || connNames(conns) != "y,z" {
		t.Errorf("no farm: every connection expected, got %q %s", name, connNames(conns))
	}
}

func TestStoreConcurrentWriters(t *testing.T) {
	isolate(t, "")
	var s Store
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.AddConnection(Connection{Name: fmt.Sprintf("n%02d", i), URI: "unix:///x"}, false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	conns, err := s.Connections()
	must(t, err)
	if len(conns) != 20 {
		t.Errorf("lost writes under concurrency: %d connections", len(conns))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWeights(t *testing.T) {
	isolate(t, "")
	var s Store
	must(t, s.AddConnection(Connection{Name: "a", URI: "unix:///a"}, false))
	must(t, s.SetWeight("a", 2.5))
	if err := s.SetWeight("nope", 1); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("weight of unknown connection: %v", err)
	}
	must(t, s.RenameConnection("a", "b"))
	w, err := s.Weights()
	must(t, err)
	if w["b"] != 2.5 || len(w) != 1 {
		t.Errorf("weights after rename = %v", w)
	}
	must(t, s.RemoveConnection("b"))
	if w, _ := s.Weights(); len(w) != 0 {
		t.Errorf("weights after remove = %v", w)
	}
}
