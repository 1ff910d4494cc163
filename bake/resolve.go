package bake

import (
	"slices"
	"strings"

	"github.com/farmbuild/farm/platform"
)

// resolution resolves the targets of one config.
type resolution struct {
	c         *config
	overrides []override
	env       map[string]string
	// specs are the targets resolved so far: inherits merged, overrides
	// applied.
	specs map[string]*spec
	// stack is the chain of inherits being resolved, to find cycles.
	stack []string
}

// definition resolves what names asks for into a Definition.
func (r *resolution) definition(names []string, opts Options) (*Definition, error) {
	if len(names) == 0 {
		names = []string{"default"}
	}
	var requested []string
	for _, n := range names {
		ns, err := expand(r.c, n)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			if !slices.Contains(requested, n) {
				requested = append(requested, n)
			}
		}
	}
	def := &Definition{Groups: map[string]*Group{}, Targets: map[string]*Target{}}
	var targets []string
	seen := map[string]bool{}
	for _, n := range requested {
		ts, err := r.members(n, def.Groups, map[string]bool{})
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if !seen[t] {
				seen[t] = true
				targets = append(targets, t)
			}
		}
	}
	// The "default" group lists what was asked for, sorted, as buildx
	// prints it.
	if !(len(requested) == 1 && requested[0] == "default" && def.Groups["default"] != nil) {
		def.Groups["default"] = &Group{Targets: slices.Clone(requested)}
	}
	slices.Sort(def.Groups["default"].Targets)
	specs := map[string]*spec{}
	for _, n := range targets {
		t, err := r.resolve(n)
		if err != nil {
			return nil, err
		}
		specs[n] = t
	}
	order, err := r.link(targets, specs)
	if err != nil {
		return nil, err
	}
	def.Order = order
	for _, n := range order {
		def.Targets[n] = finish(specs[n], !seen[n], opts)
	}
	return def, nil
}

// members returns the targets a name stands for: a target itself, or a
// group's targets, recursively (a group met again adds nothing). The
// groups met are added to groups.
func (r *resolution) members(name string, groups map[string]*Group, seen map[string]bool) ([]string, error) {
	g := r.c.group(name)
	if g == nil {
		return []string{name}, nil
	}
	if seen[name] {
		return nil, nil
	}
	seen[name] = true
	groups[name] = &Group{Description: g.description, Targets: slices.Clone(g.targets)}
	var out []string
	for _, m := range g.targets {
		if r.c.group(m) == nil && r.c.target(m) == nil {
			return nil, g.at.errorf("group %q: no target or group %q%s", name, m, available(r.c))
		}
		ts, err := r.members(m, groups, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

// resolve returns a target with what it inherits merged in (each
// inherited target resolved first, its overrides applied), then its own
// fields, then its overrides, as buildx does.
func (r *resolution) resolve(name string) (*spec, error) {
	if t, ok := r.specs[name]; ok {
		return t, nil
	}
	own := r.c.target(name)
	if i := slices.Index(r.stack, name); i >= 0 {
		last := r.stack[len(r.stack)-1] // its inherits close the cycle
		return nil, r.c.target(last).where("inherits").errorf("target %q: inherits cycle: %s -> %s", last, strings.Join(r.stack[i:], " -> "), name)
	}
	r.stack = append(r.stack, name)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	t := &spec{name: name}
	for _, p := range own.inherits {
		if r.c.target(p) == nil {
			return nil, own.where("inherits").errorf("target %q: inherits %q, which is not a target%s", name, p, available(r.c))
		}
		pt, err := r.resolve(p)
		if err != nil {
			return nil, err
		}
		t.merge(pt)
	}
	t.merge(own)
	t.inherits = nil
	if err := apply(t, r.overrides, r.env); err != nil {
		return nil, err
	}
	// A value may list several, comma-separated, as buildx allows.
	if t.platforms != nil {
		t.platforms = strings.FieldsFunc(strings.Join(t.platforms, ","), func(r rune) bool { return r == ',' })
	}
	for _, p := range t.platforms {
		if _, err := platform.Parse(p); err != nil {
			return nil, t.where("platforms").errorf("target %q: %v", name, err)
		}
	}
	r.specs[name] = t
	return t, nil
}

// link adds the targets that targets depend on (target:NAME contexts)
// to specs, and returns every target in an order where each comes after
// its dependencies: depth first, names in order.
func (r *resolution) link(targets []string, specs map[string]*spec) ([]string, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order, path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			i := slices.Index(path, name)
			from := specs[path[len(path)-1]]
			return from.where("contexts").errorf("dependency cycle: %s -> %s", strings.Join(path[i:], " -> "), name)
		}
		state[name] = visiting
		path = append(path, name)
		t := specs[name]
		for _, k := range sortedKeys(t.contexts) {
			dep, ok := strings.CutPrefix(t.contexts[k], "target:")
			if !ok {
				continue
			}
			at := t.where("contexts." + k)
			switch {
			case dep == name:
				return at.errorf("target %q: contexts.%s names the target itself", name, k)
			case r.c.target(dep) == nil:
				return at.errorf("target %q: contexts.%s = %q: no target %q%s", name, k, t.contexts[k], dep, available(r.c))
			}
			if specs[dep] == nil {
				d, err := r.resolve(dep)
				if err != nil {
					return err
				}
				specs[dep] = d
			}
			if err := visit(dep); err != nil {
				return err
			}
			if p, dp := t.platforms, specs[dep].platforms; len(p) > 1 && len(dp) > 1 && !subset(p, dp) {
				return at.errorf("target %q: its platforms %s are not all among those of %q it depends on (%s)", name, strings.Join(p, ","), dep, strings.Join(dp, ","))
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		order = append(order, name)
		return nil
	}
	sorted := slices.Clone(targets)
	slices.Sort(sorted)
	for _, n := range sorted {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// subset says whether every platform of a is one of b's (as platforms:
// linux/arm64 is linux/arm64/v8).
func subset(a, b []string) bool {
	norm := func(s string) string {
		p, err := platform.Parse(s)
		if err != nil {
			return s
		}
		return platform.Format(p)
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y string) bool { return norm(x) == norm(y) }) {
			return false
		}
	}
	return true
}
