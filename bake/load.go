package bake

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Options are what Load needs besides the files.
type Options struct {
	// Dir is the working directory. Relative paths resolve against it,
	// as buildx resolves them against the current directory.
	Dir string
	// Env is the environment: it overrides variables and fills compose
	// files' ${VAR}s. Nothing else is read from the process's environment.
	Env map[string]string
	// Set are --set values: TARGET.KEY=VALUE, TARGET a pattern.
	Set []string
	// FileRelativePaths resolves context and contexts against the
	// directory of the file that sets them (compose files: the first
	// compose file's), as buildx does with BUILDX_BAKE_FILE_RELATIVE_PATHS=1.
	FileRelativePaths bool
}

// Load parses files and resolves the targets and groups named (with no
// names, "default": a group, else a target). Every problem is an
// *errdefs.FileError.
func Load(files []File, names []string, opts Options) (*Definition, error) {
	c, err := parse(files, opts.Env)
	if err != nil {
		return nil, err
	}
	overrides, err := parseSet(opts.Set)
	if err != nil {
		return nil, err
	}
	for _, o := range overrides {
		if !slices.ContainsFunc(c.targets, func(t *spec) bool { return o.matches(t.name) }) {
			return nil, setError(o.raw, "no target matches "+o.pattern+available(c))
		}
	}
	r := &resolution{c: c, overrides: overrides, env: opts.Env, specs: map[string]*spec{}}
	return r.definition(names, opts)
}

// Names lists the groups and targets files define, sorted (for shell
// completion).
func Names(files []File, env map[string]string) ([]string, error) {
	c, err := parse(files, env)
	if err != nil {
		return nil, err
	}
	return names(c), nil
}

// The kinds of definition files.
const (
	kindHCL = iota
	kindJSON
	kindCompose
)

// kindOf tells a file's kind by its name, else by its content, as
// buildx does.
func kindOf(f File) int {
	name := strings.ToLower(f.Name)
	switch {
	case strings.HasSuffix(name, ".yml"), strings.HasSuffix(name, ".yaml"):
		return kindCompose
	case strings.HasSuffix(name, ".json"):
		return kindJSON
	case strings.HasSuffix(name, ".hcl"):
		return kindHCL
	case isJSON(f.Data):
		return kindJSON
	}
	if _, err := parseHCL(f, false); err == nil {
		return kindHCL
	}
	if _, err := parseCompose(f, nil, ""); err == nil {
		return kindCompose
	}
	return kindHCL // its syntax error is the one to report
}

// parse reads every file into one config: the compose files first, then
// the HCL and JSON files, as buildx merges them.
func parse(files []File, env map[string]string) (*config, error) {
	c := &config{}
	var hclFiles []*hcl.File
	composeBase, first := "", true
	for _, f := range files {
		kind := kindOf(f)
		if kind != kindCompose {
			hf, err := parseHCL(f, kind == kindJSON)
			if err != nil {
				return nil, err
			}
			hclFiles = append(hclFiles, hf)
			continue
		}
		if first {
			composeBase, first = dirOf(f.Name), false
		}
		cc, err := parseCompose(f, env, composeBase)
		if err != nil {
			return nil, err
		}
		c.merge(cc)
	}
	if len(hclFiles) > 0 {
		hc, err := decodeHCL(hclFiles, env)
		if err != nil {
			return nil, err
		}
		c.merge(hc)
	}
	return c, nil
}

// merge adds c2's groups and targets to c.
func (c *config) merge(c2 *config) {
	for _, g := range c2.groups {
		c.addGroup(g)
	}
	for _, t := range c2.targets {
		c.addTarget(t)
	}
}

// names lists the groups and targets c defines, sorted.
func names(c *config) []string {
	var out []string
	for _, g := range c.groups {
		out = append(out, g.name)
	}
	for _, t := range c.targets {
		if c.group(t.name) == nil {
			out = append(out, t.name)
		}
	}
	slices.Sort(out)
	return out
}

// available lists the names a definition offers, for an error message.
func available(c *config) string {
	ns := names(c)
	if len(ns) == 0 {
		return " (the files define no targets)"
	}
	if len(ns) > 20 {
		return fmt.Sprintf(" (available: %s and %d more)", strings.Join(ns[:20], ", "), len(ns)-20)
	}
	return " (available: " + strings.Join(ns, ", ") + ")"
}

// expand turns a requested name into the names it stands for: itself,
// or, for a pattern (*, ?, [...]), every group and target it matches.
func expand(c *config, name string) ([]string, error) {
	if !strings.ContainsAny(name, "*?[]") {
		if c.group(name) == nil && c.target(name) == nil {
			return nil, src{}.errorf("no target or group %q%s", name, available(c))
		}
		return []string{name}, nil
	}
	var out []string
	for _, g := range c.groups {
		if ok, err := path.Match(name, g.name); err == nil && ok {
			out = append(out, g.name)
		}
	}
	for _, t := range c.targets {
		if ok, err := path.Match(name, t.name); err == nil && ok && !slices.Contains(out, t.name) {
			out = append(out, t.name)
		}
	}
	if len(out) == 0 {
		return nil, src{}.errorf("no target or group matches %q%s", name, available(c))
	}
	return out, nil
}
