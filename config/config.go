// Package config reads and writes farm's connections and farms, which live
// in podman's own files (podman-connections.json, containers.conf), and the
// node weights farm keeps beside them.
package config

import (
	"fmt"
	"slices"
	"sort"

	"go.podman.io/common/pkg/config"

	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/transport"
)

// Connection is a named system connection, as podman stores it.
type Connection struct {
	// Name of the connection.
	Name string `json:"Name"`
	// URI is ssh://[user@]host[:port]/socket or unix:///socket.
	URI string `json:"URI"`
	// Identity is the SSH private key file, if one is set.
	Identity string `json:"Identity,omitempty"`
	// Default is true for the default connection.
	Default bool `json:"Default"`
	// ReadWrite is true when the connection lives in podman-connections.json
	// (and so can be changed); false for containers.conf connections.
	ReadWrite bool `json:"ReadWrite"`
}

// Farm is a named list of connections.
type Farm struct {
	// Name of the farm.
	Name string `json:"Name"`
	// Connections are the names of the farm's connections.
	Connections []string `json:"Connections"`
	// Default is true for the default farm.
	Default bool `json:"Default"`
	// ReadWrite is true when the farm lives in podman-connections.json.
	ReadWrite bool `json:"ReadWrite"`
}

// Store reads and writes connections and farms in podman's own files:
// podman-connections.json (read-write, beside the user's containers.conf,
// or PODMAN_CONNECTIONS_CONF) and containers.conf (read-only). Writes take
// podman's lock file and replace the file atomically, so farm and podman
// can be used side by side; farm's nodes.json has a lock of its own
// (nodes.json.lock). Every call reads the files afresh.
type Store struct{}

func loadContainersConf() (*config.Config, error) {
	cfg, err := config.New(nil)
	if err != nil {
		return nil, fmt.Errorf("reading containers.conf: %w", err)
	}
	return cfg, nil
}

// Connections returns every connection, sorted by name. A connection in
// podman-connections.json hides a containers.conf one of the same name.
func (Store) Connections() ([]Connection, error) {
	cfg, err := loadContainersConf()
	if err != nil {
		return nil, err
	}
	all, err := cfg.GetAllConnections()
	if err != nil {
		return nil, fmt.Errorf("reading connections: %w", err)
	}
	out := make([]Connection, 0, len(all))
	for _, c := range all {
		out = append(out, Connection{Name: c.Name, URI: c.URI, Identity: c.Identity, Default: c.Default, ReadWrite: c.ReadWrite})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Connection returns the named connection.
func (s Store) Connection(name string) (Connection, error) {
	all, err := s.Connections()
	if err != nil {
		return Connection{}, err
	}
	for _, c := range all {
		if c.Name == name {
			return c, nil
		}
	}
	return Connection{}, fmt.Errorf("connection %q: %w: see farm connection list", name, errdefs.ErrNotFound)
}

// AddConnection stores a new connection. The first connection, or one added
// with makeDefault, becomes the default.
func (Store) AddConnection(c Connection, makeDefault bool) error {
	if err := checkName("connection", c.Name); err != nil {
		return err
	}
	if _, err := transport.ParseDestination(c.URI); err != nil {
		return err
	}
	return config.EditConnectionConfig(func(f *config.ConnectionsFile) error {
		if _, ok := f.Connection.Connections[c.Name]; ok {
			return fmt.Errorf("connection %q %w: remove it first or choose another name", c.Name, errdefs.ErrExists)
		}
		if f.Connection.Connections == nil {
			f.Connection.Connections = map[string]config.Destination{}
		}
		f.Connection.Connections[c.Name] = config.Destination{URI: c.URI, Identity: c.Identity}
		if makeDefault || f.Connection.Default == "" {
			f.Connection.Default = c.Name
		}
		return nil
	})
}

// RemoveConnection deletes a connection and takes it out of every farm.
func (Store) RemoveConnection(name string) error {
	return withPrefsLock(func(prefs string) error {
		if err := removeConnection(name); err != nil {
			return err
		}
		return renamePrefs(prefs, name, "")
	})
}

func removeConnection(name string) error {
	return config.EditConnectionConfig(func(f *config.ConnectionsFile) error {
		if err := mustOwnConnection(f, name); err != nil {
			return err
		}
		delete(f.Connection.Connections, name)
		if f.Connection.Default == name {
			f.Connection.Default = ""
		}
		for farm, conns := range f.Farm.List {
			f.Farm.List[farm] = slices.DeleteFunc(conns, func(c string) bool { return c == name })
		}
		return nil
	})
}

// RenameConnection renames a connection, in every farm and as the
// default, and keeps its settings.
func (Store) RenameConnection(from, to string) error {
	if err := checkName("connection", to); err != nil {
		return err
	}
	return withPrefsLock(func(prefs string) error {
		if err := renameConnection(from, to); err != nil {
			return err
		}
		return renamePrefs(prefs, from, to)
	})
}

func renameConnection(from, to string) error {
	return config.EditConnectionConfig(func(f *config.ConnectionsFile) error {
		if err := mustOwnConnection(f, from); err != nil {
			return err
		}
		if _, ok := f.Connection.Connections[to]; ok {
			return fmt.Errorf("connection %q %w: remove it first or choose another name", to, errdefs.ErrExists)
		}
		f.Connection.Connections[to] = f.Connection.Connections[from]
		delete(f.Connection.Connections, from)
		if f.Connection.Default == from {
			f.Connection.Default = to
		}
		for farm, conns := range f.Farm.List {
			for i, c := range conns {
				if c == from {
					conns[i] = to
				}
			}
			f.Farm.List[farm] = conns
		}
		return nil
	})
}

// mustOwnConnection checks that name is a connection of the JSON file.
func mustOwnConnection(f *config.ConnectionsFile, name string) error {
	if _, ok := f.Connection.Connections[name]; ok {
		return nil
	}
	if cfg, err := loadContainersConf(); err == nil {
		if _, ok := cfg.Engine.ServiceDestinations[name]; ok {
			return fmt.Errorf("connection %q is defined in containers.conf: %w: edit containers.conf, or add it again with farm connection add (farms can only hold connections of podman-connections.json)", name, errdefs.ErrReadOnly)
		}
	}
	return fmt.Errorf("connection %q: %w: see farm connection list", name, errdefs.ErrNotFound)
}

// checkName rejects names that would be awkward in files and on the command line.
func checkName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name must not be empty", kind)
	}
	for _, r := range name {
		if r <= ' ' || r == '/' || r == ',' || r == 0x7f {
			return fmt.Errorf("%s name %q contains %q: use letters, digits, '-', '_' or '.'", kind, name, r)
		}
	}
	return nil
}
