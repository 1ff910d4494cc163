package bake

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// composeFields maps the compose build keys farm reads to the target
// field each sets.
var composeFields = map[string]string{
	"context": "context", "dockerfile": "dockerfile", "dockerfile_inline": "dockerfile-inline",
	"args": "args", "target": "target", "platforms": "platforms", "tags": "tags",
	"additional_contexts": "contexts", "labels": "labels", "no_cache": "no-cache", "pull": "pull",
}

// composeUnsupported are the compose specification's other build keys.
var composeUnsupported = []string{"ssh", "cache_from", "cache_to", "extra_hosts", "isolation", "privileged",
	"network", "shm_size", "secrets", "ulimits", "entitlements", "provenance", "sbom", "x-bake"}

// parseCompose reads a compose file's services that have a build
// section, one target each (named as the service, dots made
// underscores), with a group "default" listing them. env interpolates
// ${VAR}s; base is the directory FileRelativePaths resolves against.
func parseCompose(f File, env map[string]string, base string) (*config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		return nil, yamlError(f.Name, f.Data, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, src{file: f.Name}.errorf("empty compose file")
	}
	root := deref(doc.Content[0])
	at := func(n *yaml.Node) src { return src{file: f.Name, line: n.Line} }
	if root.Kind != yaml.MappingNode {
		return nil, at(root).errorf("a compose file is a mapping with services")
	}
	top, err := pairs(root)
	if err != nil {
		return nil, at(root).errorf("%v", err)
	}
	services := find(top, "services")
	if services == nil {
		return nil, at(root).errorf("no services")
	}
	if services.v.Kind != yaml.MappingNode {
		return nil, at(services.v).errorf("services must be a mapping")
	}
	svcs, err := pairs(services.v)
	if err != nil {
		return nil, at(services.v).errorf("%v", err)
	}
	c := &config{}
	def := &group{name: "default", at: at(services.k)}
	for _, s := range svcs {
		name := strings.ReplaceAll(s.k.Value, ".", "_")
		if !targetName.MatchString(name) {
			return nil, at(s.k).errorf("service %q: a name may hold only letters, digits, '_', '-' and '.'", s.k.Value)
		}
		var fields []pair
		if s.v.Kind == yaml.MappingNode {
			if fields, err = pairs(s.v); err != nil {
				return nil, at(s.v).errorf("service %q: %v", s.k.Value, err)
			}
		}
		build := find(fields, "build")
		if build == nil {
			continue
		}
		t := &spec{name: name, block: at(s.k), blockBase: base}
		if err := t.fromCompose(build, find(fields, "image"), env, f.Name, base); err != nil {
			return nil, err
		}
		c.addTarget(t)
		def.targets = append(def.targets, name)
	}
	if len(def.targets) > 0 {
		slices.Sort(def.targets)
		c.addGroup(def)
	}
	return c, nil
}

// fromCompose sets t from a service's build section and image.
func (t *spec) fromCompose(build, image *pair, env map[string]string, file, base string) error {
	at := func(n *yaml.Node) src { return src{file: file, line: n.Line} }
	fail := func(n *yaml.Node, key string, err error) error {
		return at(n).errorf("service %q: build.%s: %v", t.name, key, err)
	}
	var keys []pair
	switch build.v.Kind {
	case yaml.ScalarNode: // build: DIR
		keys = []pair{{k: &yaml.Node{Kind: yaml.ScalarNode, Value: "context", Line: build.k.Line}, v: build.v}}
	case yaml.MappingNode:
		var err error
		if keys, err = pairs(build.v); err != nil {
			return at(build.v).errorf("service %q: build: %v", t.name, err)
		}
	default:
		return at(build.v).errorf("service %q: build must be a directory or a mapping", t.name)
	}
	for _, kv := range keys {
		key := kv.k.Value
		field, ok := composeFields[key]
		switch {
		case !ok && slices.Contains(composeUnsupported, key):
			return at(kv.k).errorf("service %q: build.%s is not supported by farm bake (see docs/bake.md)", t.name, key)
		case !ok && strings.HasPrefix(key, "x-"):
			continue // another tool's extension
		case !ok:
			return at(kv.k).errorf("service %q: unknown field build.%s", t.name, key)
		}
		var err error
		switch field {
		case "context", "dockerfile", "dockerfile-inline", "target":
			var s string
			if s, err = scalar(kv.v, env); err == nil {
				*t.str(field) = &s
			}
		case "no-cache", "pull":
			var s string
			var b bool
			if s, err = scalar(kv.v, env); err == nil {
				if b, err = strconv.ParseBool(s); err == nil {
					*t.flag(field) = &b
				} else {
					err = errors.New("must be true or false")
				}
			}
		case "platforms", "tags":
			*t.list(field), err = sequence(kv.v, env)
		case "args":
			t.args, err = keyValues(kv.v, env, true)
		case "labels":
			t.labels, err = keyValues(kv.v, env, false)
		case "contexts":
			if t.contexts, err = keyValues(kv.v, env, false); err == nil {
				for k, v := range t.contexts {
					if ref, ok := strings.CutPrefix(v, "service:"); ok {
						v = "target:" + ref
					}
					if ref, ok := strings.CutPrefix(v, "target:"); ok {
						t.contexts[k] = "target:" + strings.ReplaceAll(ref, ".", "_")
					}
					t.set("contexts."+k, at(kv.k), base)
				}
			}
		}
		if err != nil {
			return fail(kv.v, key, err)
		}
		t.set(field, at(kv.k), base)
	}
	if len(t.tags) == 0 && image != nil {
		s, err := scalar(image.v, env)
		if err != nil {
			return at(image.v).errorf("service %q: image: %v", t.name, err)
		}
		if s != "" {
			t.tags = []string{s}
			t.set("tags", at(image.k), base)
		}
	}
	return nil
}
