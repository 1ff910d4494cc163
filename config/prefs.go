package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.podman.io/storage/pkg/ioutils"

	"github.com/farmbuild/farm/errdefs"
)

// farm keeps what podman's files have no place for in a file of its own:
// per-node weights in $XDG_CONFIG_HOME/farm/nodes.json, a small JSON
// document changed under an exclusive lock (nodes.json.lock) and written
// atomically (a synced temporary file renamed over it); a missing file
// means no settings.

// nodePrefs is the nodes.json document.
type nodePrefs struct {
	Nodes map[string]nodePref `json:"nodes"`
}

type nodePref struct {
	// Weight is the user's relative speed for the node (default 1).
	Weight float64 `json:"weight,omitempty"`
}

func configDir() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "farm"), nil
	}
	home, err := os.UserHomeDir()
	return filepath.Join(home, ".config", "farm"), err
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s is damaged (%w): fix or remove it", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return ioutils.AtomicWriteFile(path, append(data, '\n'), 0o644)
}

func prefsPath() (string, error) {
	d, err := configDir()
	return filepath.Join(d, "nodes.json"), err
}

// Weights returns the user's weight per connection name.
func (Store) Weights() (map[string]float64, error) {
	path, err := prefsPath()
	if err != nil {
		return nil, err
	}
	var p nodePrefs
	if err := readJSON(path, &p); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, n := range p.Nodes {
		if n.Weight > 0 {
			out[name] = n.Weight
		}
	}
	return out, nil
}

// SetWeight sets a connection's weight; 0 resets it to the default (1).
func (s Store) SetWeight(name string, weight float64) error {
	if weight < 0 {
		return fmt.Errorf("%w: weight %v must not be negative", errdefs.ErrUsage, weight)
	}
	// The connection is looked up under the lock, so that a concurrent
	// remove cannot leave a weight behind for it.
	return withPrefsLock(func(path string) error {
		if _, err := s.Connection(name); err != nil {
			return err
		}
		return editPrefs(path, func(p *nodePrefs) {
			if weight == 0 {
				delete(p.Nodes, name)
			} else {
				p.Nodes[name] = nodePref{Weight: weight}
			}
		})
	})
}

// renamePrefs moves a connection's settings to its new name (or drops
// them when to is empty). The caller holds the lock on path.
func renamePrefs(path, from, to string) error {
	return editPrefs(path, func(p *nodePrefs) {
		if v, ok := p.Nodes[from]; ok {
			delete(p.Nodes, from)
			if to != "" {
				p.Nodes[to] = v
			}
		}
	})
}

// withPrefsLock runs fn with nodes.json's path, holding an exclusive lock
// on nodes.json.lock beside it: every read-modify-write of nodes.json
// (by any farm process) happens under it.
func withPrefsLock(fn func(path string) error) error {
	path, err := prefsPath()
	if err != nil {
		return err
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("locking node settings: %w", err)
	}
	defer unlock()
	return fn(path)
}

// editPrefs reads nodes.json at path, applies edit and writes it back
// atomically. The caller holds the lock on path.
func editPrefs(path string, edit func(*nodePrefs)) error {
	var p nodePrefs
	if err := readJSON(path, &p); err != nil {
		return err
	}
	if p.Nodes == nil {
		p.Nodes = map[string]nodePref{}
	}
	edit(&p)
	if err := writeJSON(path, p); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
