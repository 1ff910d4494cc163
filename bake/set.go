package bake

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// override is one --set PATTERN.KEY[+]=VALUE, as buildx reads it.
type override struct {
	raw      string
	pattern  string
	key      string // "tags", "args.FOO", ...
	value    string
	hasValue bool
	append   bool
}

// listKeys are the --set keys that take a list: repeating one adds to
// it, and KEY+=VALUE adds to what the file set.
var listKeys = []string{"tags", "platform", "platforms", "output", "secrets", "annotations"}

// namedKeys take a name: KEY.NAME=VALUE.
var namedKeys = []string{"args", "labels", "contexts", "secret"}

// scalarKeys take one value.
var scalarKeys = []string{"context", "dockerfile", "target", "no-cache", "pull"}

// parseSet reads --set values.
func parseSet(values []string) ([]override, error) {
	var out []override
	for _, v := range values {
		k, val, hasValue := strings.Cut(v, "=")
		o := override{raw: v, value: val, hasValue: hasValue}
		k, o.append = strings.CutSuffix(k, "+")
		pattern, key, ok := strings.Cut(k, ".")
		if !ok || pattern == "" || key == "" {
			return nil, setError(v, "use TARGET.KEY=VALUE (TARGET may be a pattern such as *)")
		}
		o.pattern, o.key = pattern, key
		field, name, named := strings.Cut(key, ".")
		switch {
		case slices.Contains(namedKeys, field):
			if !named || name == "" {
				return nil, setError(v, fmt.Sprintf("%s needs a name: %s.%s.NAME=VALUE", field, pattern, field))
			}
			if o.append {
				return nil, setError(v, field+" cannot be added to with +=")
			}
		case named:
			return nil, setError(v, fmt.Sprintf("unknown key %q", key))
		case slices.Contains(listKeys, field):
		case slices.Contains(scalarKeys, field):
			if o.append {
				return nil, setError(v, field+" cannot be added to with +=")
			}
		case slices.Contains(unsupported, field), field == "push", field == "load":
			return nil, setError(v, fmt.Sprintf("%q is a buildx key farm bake does not support (see docs/bake.md)", field))
		default:
			return nil, setError(v, fmt.Sprintf("unknown key %q", field))
		}
		if !hasValue && field != "args" {
			return nil, setError(v, "use TARGET.KEY=VALUE")
		}
		out = append(out, o)
	}
	return out, nil
}

func setError(v, problem string) error {
	return src{}.errorf("--set %s: %s", v, problem)
}

// matches reports whether an override's pattern names target, as
// buildx's --set patterns do (path.Match).
func (o override) matches(target string) bool {
	if o.pattern == target {
		return true
	}
	ok, err := path.Match(o.pattern, target)
	return err == nil && ok
}

// apply lays the overrides that match t over it: a list key set more
// than once gathers every value, as in buildx.
func apply(t *spec, overrides []override, env map[string]string) error {
	seen := map[string]bool{}
	for _, o := range overrides {
		if !o.matches(t.name) {
			continue
		}
		field, name, _ := strings.Cut(o.key, ".")
		if field == "platform" {
			field = "platforms"
		}
		at := src{} // a --set value: relative to the working directory
		value := o.value
		fail := func(err error) error { return setError(o.raw, err.Error()) }
		switch field {
		case "context", "dockerfile", "target":
			*t.str(field) = &value
		case "no-cache", "pull":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return setError(o.raw, "use true or false")
			}
			*t.flag(field) = &b
		case "args", "labels", "contexts":
			m := t.dict(field)
			if !o.hasValue { // args.KEY alone: from the environment
				e, ok := env[name]
				if !ok {
					continue
				}
				value = e
			}
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[name] = value
			if field == "contexts" {
				t.set("contexts."+name, at, "")
			}
		case "secret": // secret.ID=src=FILE: changes a secret the file declares
			i := slices.IndexFunc(t.secrets, func(s Secret) bool { return s.ID == name })
			if i < 0 {
				return setError(o.raw, fmt.Sprintf("target %q declares no secret %q", t.name, name))
			}
			m, err := parseCSV(value)
			if err == nil {
				if _, ok := m["id"]; !ok {
					m["id"] = name
				}
				var s Secret
				if s, err = secretOf(m); err == nil && s.ID != name {
					err = fmt.Errorf("id %q is not %q", s.ID, name)
				}
				if err == nil {
					t.secrets = slices.Clone(t.secrets)
					t.secrets[i] = s
				}
			}
			if err != nil {
				return fail(err)
			}
		default: // the lists
			if err := t.appendList(field, value, o.append || seen[field]); err != nil {
				return fail(err)
			}
			seen[field] = true
		}
		t.set(field, at, "")
	}
	return nil
}

// appendList sets (or, with add, extends) a list field from a --set value.
func (t *spec) appendList(field, value string, add bool) error {
	switch field {
	case "tags", "platforms", "annotations":
		p := t.list(field)
		if !add && field != "annotations" { // buildx adds annotations either way
			*p = nil
		}
		*p = append(slices.Clone(*p), value)
	case "output":
		out, err := entry(value, outputOf)
		if err != nil {
			return err
		}
		if !add {
			t.outputs = nil
		}
		t.outputs = append(slices.Clone(t.outputs), out)
	case "secrets":
		s, err := entry(value, secretOf)
		if err != nil {
			return err
		}
		if !add {
			t.secrets = nil
		}
		t.secrets = mergeSecrets(t.secrets, []Secret{s})
	}
	return nil
}

// entry reads one CSV value ("type=registry,...") with parse.
func entry[T any](value string, parse func(map[string]string) (T, error)) (T, error) {
	m, err := parseCSV(value)
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(m)
}
