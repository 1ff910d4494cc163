package bake

import "slices"

// spec is a target as one block (or service, or several merged) wrote
// it: nil means "not set here", so that merging keeps what an earlier
// block or an inherited target set.
type spec struct {
	name        string
	description *string
	inherits    []string

	context, dockerfile, dockerfileInline, stage *string

	args, labels, contexts map[string]string

	annotations, tags, platforms []string
	secrets                      []Secret
	outputs                      []Output
	pull, noCache                *bool

	// block is where the target was (last) defined.
	block src
	// at says where each field was last set, by its name in the file
	// ("contexts.NAME" for one named context).
	at map[string]src
	// base is the directory relative paths resolve against when
	// FileRelativePaths is on, per field as at: "" when relative to the
	// working directory.
	base map[string]string
	// blockBase is the base of the file that (last) defined the target.
	blockBase string
}

// set records that field was set at s, with base as its base directory.
func (t *spec) set(field string, s src, base string) {
	if t.at == nil {
		t.at, t.base = map[string]src{}, map[string]string{}
	}
	t.at[field], t.base[field] = s, base
}

// where is where field was set, or where the target was defined.
func (t *spec) where(field string) src {
	if s, ok := t.at[field]; ok {
		return s
	}
	return t.block
}

// str is the string field of that name (as the file names it), or nil.
func (t *spec) str(name string) **string {
	return map[string]**string{"description": &t.description, "context": &t.context, "dockerfile": &t.dockerfile,
		"dockerfile-inline": &t.dockerfileInline, "target": &t.stage}[name]
}

// flag is the bool field of that name, or nil.
func (t *spec) flag(name string) **bool {
	return map[string]**bool{"no-cache": &t.noCache, "pull": &t.pull}[name]
}

// list is the list field of that name, or nil.
func (t *spec) list(name string) *[]string {
	return map[string]*[]string{"inherits": &t.inherits, "tags": &t.tags, "platforms": &t.platforms, "annotations": &t.annotations}[name]
}

// dict is the map field of that name, or nil.
func (t *spec) dict(name string) *map[string]string {
	return map[string]*map[string]string{"args": &t.args, "labels": &t.labels, "contexts": &t.contexts}[name]
}

// merge lays t2 over t as buildx does: scalars, tags, platforms and
// outputs are replaced; args, labels and contexts merged by key;
// annotations appended; secrets merged by ID.
func (t *spec) merge(t2 *spec) {
	if t2.block != (src{}) {
		t.block, t.blockBase = t2.block, t2.blockBase
	}
	for k, s := range t2.at {
		t.set(k, s, t2.base[k])
	}
	if t2.description != nil {
		t.description = t2.description
	}
	for _, p := range []struct{ dst, src **string }{
		{&t.context, &t2.context}, {&t.dockerfile, &t2.dockerfile},
		{&t.dockerfileInline, &t2.dockerfileInline}, {&t.stage, &t2.stage},
	} {
		if *p.src != nil {
			*p.dst = *p.src
		}
	}
	for _, p := range []struct{ dst, src *map[string]string }{
		{&t.args, &t2.args}, {&t.labels, &t2.labels}, {&t.contexts, &t2.contexts},
	} {
		for k, v := range *p.src {
			if *p.dst == nil {
				*p.dst = map[string]string{}
			}
			(*p.dst)[k] = v
		}
	}
	if t2.tags != nil {
		t.tags = slices.Clone(t2.tags)
	}
	if t2.platforms != nil {
		t.platforms = slices.Clone(t2.platforms)
	}
	if t2.outputs != nil {
		t.outputs = slices.Clone(t2.outputs)
	}
	if t2.annotations != nil {
		t.annotations = append(slices.Clone(t.annotations), t2.annotations...)
	}
	if t2.secrets != nil {
		t.secrets = mergeSecrets(t.secrets, t2.secrets)
	}
	if t2.pull != nil {
		t.pull = t2.pull
	}
	if t2.noCache != nil {
		t.noCache = t2.noCache
	}
	t.inherits = append(slices.Clone(t.inherits), t2.inherits...)
}

// mergeSecrets adds b to a: a secret of b replaces a's of the same ID.
func mergeSecrets(a, b []Secret) []Secret {
	out := slices.Clone(a)
	for _, s := range b {
		if i := slices.IndexFunc(out, func(o Secret) bool { return o.ID == s.ID }); i >= 0 {
			out[i] = s
		} else {
			out = append(out, s)
		}
	}
	return out
}

// config is a parsed definition before resolution: the groups and the
// targets of every file, merged by name, in the order first defined.
type config struct {
	groups  []*group
	targets []*spec
	// byName index groups and targets (a matrix may make thousands).
	groupsByName  map[string]*group
	targetsByName map[string]*spec
}

// group is a group as the files wrote it.
type group struct {
	name        string
	description string
	targets     []string
	at          src
}

func (c *config) group(name string) *group { return c.groupsByName[name] }

func (c *config) target(name string) *spec { return c.targetsByName[name] }

// addGroup merges g into c: a group defined again gains the new targets.
func (c *config) addGroup(g *group) {
	old := c.group(g.name)
	if old == nil {
		if c.groupsByName == nil {
			c.groupsByName = map[string]*group{}
		}
		c.groups = append(c.groups, g)
		c.groupsByName[g.name] = g
		return
	}
	for _, t := range g.targets {
		if !slices.Contains(old.targets, t) {
			old.targets = append(old.targets, t)
		}
	}
	if g.description != "" {
		old.description = g.description
	}
	old.at = g.at
}

// addTarget merges t into c: a target defined again is laid over the
// earlier definition.
func (c *config) addTarget(t *spec) {
	if old := c.target(t.name); old != nil {
		old.merge(t)
		return
	}
	if c.targetsByName == nil {
		c.targetsByName = map[string]*spec{}
	}
	c.targets = append(c.targets, t)
	c.targetsByName[t.name] = t
}
