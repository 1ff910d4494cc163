package bake

import (
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Conversions from HCL values to a target's fields. A null value means
// "not set", as in buildx.

func asString(v cty.Value) (string, error) {
	s, err := convert.Convert(v, cty.String)
	if err != nil || !s.IsKnown() {
		return "", errors.New("must be a string")
	}
	return s.AsString(), nil
}

func asBool(v cty.Value) (bool, error) {
	b, err := convert.Convert(v, cty.Bool)
	if err != nil || !b.IsKnown() {
		return false, errors.New("must be true or false")
	}
	return b.True(), nil
}

// asList reads a list of strings (elements that are null are dropped).
func asList(v cty.Value) ([]string, error) {
	if !v.CanIterateElements() || v.Type().IsMapType() || v.Type().IsObjectType() {
		return nil, errors.New("must be a list of strings")
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			continue
		}
		s, err := asString(e)
		if err != nil {
			return nil, errors.New("must be a list of strings")
		}
		out = append(out, s)
	}
	return out, nil
}

// asMap reads a map of strings (null values are dropped).
func asMap(v cty.Value) (map[string]string, error) {
	if !v.Type().IsMapType() && !v.Type().IsObjectType() {
		return nil, errors.New("must be a map of strings")
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			continue
		}
		s, err := asString(e)
		if err != nil {
			return nil, fmt.Errorf("%s must be a string", k.AsString())
		}
		out[k.AsString()] = s
	}
	return out, nil
}

// asEntries reads a list whose elements are CSV strings
// ("type=registry,ref=...") or objects, as key-value maps.
func asEntries(v cty.Value) ([]map[string]string, error) {
	if !v.CanIterateElements() || v.Type().IsMapType() || v.Type().IsObjectType() {
		return nil, errors.New("must be a list")
	}
	var out []map[string]string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			continue
		}
		if e.Type().IsMapType() || e.Type().IsObjectType() {
			m, err := asMap(e)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
			continue
		}
		s, err := asString(e)
		if err != nil {
			return nil, errors.New("must be a list of strings or objects")
		}
		m, err := parseCSV(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// parseCSV reads "k=v,k=v" as buildx does (CSV, so values may be quoted).
// A field without "=" is kept under the key "" for the caller to judge.
func parseCSV(s string) (map[string]string, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.LazyQuotes = true
	fields, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	m := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok {
			k, v = "", f
		}
		m[k] = v
	}
	return m, nil
}

// secretOf reads a secret as buildx does: id=ID with src=FILE (or
// source=) or env=VAR, and an optional type=file|env. With neither src
// nor env, the build takes it from the environment variable ID, else the
// file ID, as buildx's builds do.
func secretOf(m map[string]string) (Secret, error) {
	s := Secret{ID: m["id"], Src: m["src"], Env: m["env"]}
	if s.Src == "" {
		s.Src = m["source"]
	}
	for k, v := range m {
		switch k {
		case "id", "src", "source", "env", "type":
		case "":
			return s, fmt.Errorf("%q is not KEY=VALUE", v)
		default:
			return s, fmt.Errorf("unknown key %q (use id, src, env, type)", k)
		}
	}
	switch m["type"] {
	case "", "file":
	case "env":
		if s.Env == "" {
			s.Env, s.Src = s.Src, ""
		}
	default:
		return s, fmt.Errorf("%q: type %q: use file or env", s.ID, m["type"])
	}
	if s.ID == "" {
		return s, errors.New("give id=ID")
	}
	if s.Src != "" && s.Env != "" {
		return s, fmt.Errorf("%q: give src or env, not both", s.ID)
	}
	return s, nil
}

// outputOf reads an output: type=TYPE,dest=DEST,...; a bare value is a
// local directory (or "-", a tar stream), as in buildx.
func outputOf(m map[string]string) (Output, error) {
	o := Output{Attrs: map[string]string{}}
	for k, v := range m {
		switch k {
		case "type":
			o.Type = v
		case "dest":
			o.Dest = v
		case "":
			if len(m) != 1 {
				return o, fmt.Errorf("%q is not KEY=VALUE", v)
			}
			o.Type, o.Dest = "local", v
			if v == "-" {
				o.Type = "tar"
			}
		default:
			o.Attrs[k] = v
		}
	}
	if o.Type == "" {
		return o, errors.New("give type=TYPE")
	}
	if len(o.Attrs) == 0 {
		o.Attrs = nil
	}
	return o, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
