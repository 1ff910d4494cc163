package config

import (
	"fmt"
	"slices"
	"sort"

	"go.podman.io/common/pkg/config"

	"github.com/farmbuild/farm/errdefs"
)

// Farms returns every farm, sorted by name. A farm in
// podman-connections.json hides a containers.conf one of the same name.
func (Store) Farms() ([]Farm, error) {
	cfg, err := loadContainersConf()
	if err != nil {
		return nil, err
	}
	all, err := cfg.GetAllFarms()
	if err != nil {
		return nil, fmt.Errorf("reading farms: %w", err)
	}
	out := make([]Farm, 0, len(all))
	for _, f := range all {
		conns := f.Connections
		if conns == nil {
			conns = []string{}
		}
		out = append(out, Farm{Name: f.Name, Connections: conns, Default: f.Default, ReadWrite: f.ReadWrite})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateFarm stores a new farm of existing connections. As in podman, a farm
// in podman-connections.json may only name connections of that file, and
// the first farm becomes the default.
func (Store) CreateFarm(name string, conns []string) error {
	if err := checkName("farm", name); err != nil {
		return err
	}
	return config.EditConnectionConfig(func(f *config.ConnectionsFile) error {
		if _, ok := f.Farm.List[name]; ok {
			return fmt.Errorf("farm %q %w: use farm update to change it", name, errdefs.ErrExists)
		}
		list := []string{}
		for _, c := range conns {
			if err := mustOwnConnection(f, c); err != nil {
				return err
			}
			if !slices.Contains(list, c) {
				list = append(list, c)
			}
		}
		f.Farm.List[name] = list
		if len(f.Farm.List) == 1 || f.Farm.Default == "" {
			f.Farm.Default = name
		}
		return nil
	})
}

// FarmUpdate describes a change to a farm.
type FarmUpdate struct {
	// Add are connections to add.
	Add []string
	// Remove are connections to remove.
	Remove []string
	// Default, when set, makes the farm the default (true) or clears the
	// default farm if it is this one (false).
	Default *bool
}

// UpdateFarm adds and removes connections of a farm and sets it as default.
func (Store) UpdateFarm(name string, u FarmUpdate) error {
	return config.EditConnectionConfig(func(f *config.ConnectionsFile) error {
		list, ok := f.Farm.List[name]
		if !ok {
			return farmNotFound(name)
		}
		for _, c := range u.Add {
			if err := mustOwnConnection(f, c); err != nil {
				return err
			}
			if !slices.Contains(list, c) {
				list = append(list, c)
			}
		}
		for _, c := range u.Remove {
			if !slices.Contains(list, c) {
				return fmt.Errorf("connection %q is not in farm %q: %w", c, name, errdefs.ErrNotFound)
			}
			list = slices.DeleteFunc(list, func(x string) bool { return x == c })
		}
		f.Farm.List[name] = list
		if u.Default != nil {
			if *u.Default {
				f.Farm.Default = name
			} else if f.Farm.Default == name {
				f.Farm.Default = ""
			}
		}
		return nil
	})
}

// RemoveFarms deletes farms (all of them with all). When the default farm
// goes, the first remaining farm by name becomes the default, as in podman.
func (Store) RemoveFarms(names []string, all bool) error {
	return config.EditConnectionConfig(func(f *config.ConnectionsFile) error {
		if all {
			f.Farm.List = map[string][]string{}
			f.Farm.Default = ""
			return nil
		}
		for _, n := range names {
			if _, ok := f.Farm.List[n]; !ok {
				return farmNotFound(n)
			}
		}
		for _, n := range names {
			delete(f.Farm.List, n)
			if f.Farm.Default == n {
				f.Farm.Default = ""
			}
		}
		if f.Farm.Default == "" && len(f.Farm.List) > 0 {
			rest := make([]string, 0, len(f.Farm.List))
			for n := range f.Farm.List {
				rest = append(rest, n)
			}
			sort.Strings(rest)
			f.Farm.Default = rest[0]
		}
		return nil
	})
}

// FarmConnections resolves which connections a command acts on: the named
// farm; with name empty the default farm; with no default farm every
// connection. It returns the farm's name ("" for all connections).
func (s Store) FarmConnections(name string) (string, []Connection, error) {
	conns, err := s.Connections()
	if err != nil {
		return "", nil, err
	}
	farms, err := s.Farms()
	if err != nil {
		return "", nil, err
	}
	var chosen *Farm
	for i := range farms {
		if (name != "" && farms[i].Name == name) || (name == "" && farms[i].Default) {
			chosen = &farms[i]
		}
	}
	if chosen == nil {
		if name != "" {
			return "", nil, farmNotFound(name)
		}
		return "", conns, nil
	}
	byName := map[string]Connection{}
	for _, c := range conns {
		byName[c.Name] = c
	}
	out := make([]Connection, 0, len(chosen.Connections))
	for _, n := range chosen.Connections {
		c, ok := byName[n]
		if !ok {
			return "", nil, fmt.Errorf("farm %q names connection %q, which does not exist: fix it with farm update %s --remove %s", chosen.Name, n, chosen.Name, n)
		}
		out = append(out, c)
	}
	return chosen.Name, out, nil
}

func farmNotFound(name string) error {
	return fmt.Errorf("farm %q: %w: see farm list", name, errdefs.ErrNotFound)
}
