package bake

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// pair is one key and value of a YAML mapping.
type pair struct{ k, v *yaml.Node }

// deref follows an alias (*name) to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// pairs lists a mapping's keys and values in order, merge keys (<<:
// *anchor) expanded: a key written in the mapping wins over a merged one.
func pairs(n *yaml.Node) ([]pair, error) {
	budget := 100000
	return pairsDepth(deref(n), 0, &budget)
}

// pairsDepth is pairs with limits on how deep merges nest and how many
// pairs they make (aliases can multiply them).
func pairsDepth(n *yaml.Node, depth int, budget *int) ([]pair, error) {
	if depth > 20 {
		return nil, errors.New("merge keys nested too deep")
	}
	if *budget -= len(n.Content) / 2; *budget < 0 {
		return nil, errors.New("merge keys make too many keys")
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: not a mapping", n.Line)
	}
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a string", k.Line)
		}
		if k.ShortTag() != "!!merge" {
			own = append(own, pair{k, v})
			continue
		}
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, s := range sources {
			ps, err := pairsDepth(deref(s), depth+1, budget)
			if err != nil {
				return nil, err
			}
			merged = append(merged, ps...)
		}
	}
	out := own
	seen := map[string]bool{}
	for _, p := range own {
		seen[p.k.Value] = true
	}
	for _, p := range merged {
		if !seen[p.k.Value] {
			seen[p.k.Value] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// find returns the pair of key, or nil.
func find(ps []pair, key string) *pair {
	for i := range ps {
		if ps[i].k.Value == key {
			return &ps[i]
		}
	}
	return nil
}

// scalar reads a scalar, interpolated.
func scalar(n *yaml.Node, env map[string]string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", errors.New("must be a single value")
	}
	if n.ShortTag() == "!!null" {
		return "", nil
	}
	return interpolate(n.Value, env)
}

// sequence reads a list of scalars (or one scalar), interpolated.
func sequence(n *yaml.Node, env map[string]string) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		s, err := scalar(n, env)
		return []string{s}, err
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("must be a list")
	}
	out := []string{}
	for _, e := range n.Content {
		s, err := scalar(deref(e), env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// keyValues reads a mapping or a list of KEY=VALUE, interpolated. With
// fromEnv (build args), a key without a value takes the environment's,
// and is left out when the environment has none, as compose does.
func keyValues(n *yaml.Node, env map[string]string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	add := func(k string, v *string) {
		switch {
		case v != nil:
			out[k] = *v
		case !fromEnv:
			out[k] = ""
		default:
			if e, ok := env[k]; ok {
				out[k] = e
			}
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps, err := pairs(n)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p.v.Kind == yaml.ScalarNode && p.v.ShortTag() == "!!null" {
				add(p.k.Value, nil)
				continue
			}
			s, err := scalar(p.v, env)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", p.k.Value, err)
			}
			add(p.k.Value, &s)
		}
	case yaml.SequenceNode:
		items, err := sequence(n, env)
		if err != nil {
			return nil, err
		}
		for _, item := range items {
			k, v, ok := strings.Cut(item, "=")
			if k == "" {
				return nil, fmt.Errorf("%q: use KEY=VALUE", item)
			}
			if ok {
				add(k, &v)
			} else {
				add(k, nil)
			}
		}
	default:
		return nil, errors.New("must be a mapping or a list of KEY=VALUE")
	}
	return out, nil
}
