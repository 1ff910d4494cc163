package bake

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// targetName is what buildx allows as a target's name.
var targetName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// fields are the target fields farm supports.
var fields = []string{"context", "contexts", "dockerfile", "dockerfile-inline", "args", "labels",
	"annotations", "tags", "platforms", "target", "no-cache", "pull", "secret", "output"}

// unsupported are buildx's other target fields: named so that the error
// says farm does not support them rather than that they do not exist.
var unsupported = []string{"attest", "cache-from", "cache-to", "ssh", "network", "no-cache-filter",
	"shm-size", "ulimits", "resources", "call", "entitlements", "extra-hosts", "policy"}

var targetSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range slices.Concat(fields, unsupported, []string{"inherits", "matrix", "name", "description"}) {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}()

// decodeTarget reads a target block's attributes, evaluated in ctx.
func decodeTarget(name string, attrs hcl.Attributes, ctx *hcl.EvalContext, block src) (*spec, error) {
	t := &spec{name: name, block: block, blockBase: dirOf(block.file)}
	// In the order written, so that the first problem is the one reported.
	list := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Range.Start.Byte < list[j].Range.Start.Byte })
	for _, a := range list {
		if slices.Contains(unsupported, a.Name) {
			return nil, srcOf(a.Range).errorf("target %q: %q is a buildx field farm bake does not support (see docs/bake.md)", name, a.Name)
		}
		if a.Name == "matrix" || a.Name == "name" {
			continue
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		if v.IsNull() {
			continue
		}
		if !v.IsWhollyKnown() {
			return nil, srcOf(a.Range).errorf("target %q: %s: value is not known", name, a.Name)
		}
		if err := t.setField(a.Name, v, srcOf(a.Range)); err != nil {
			return nil, srcOf(a.Range).errorf("target %q: %s: %v", name, a.Name, err)
		}
	}
	return t, nil
}

// setField sets one field from its HCL value, noting where it was set.
func (t *spec) setField(name string, v cty.Value, at src) error {
	var err error
	switch {
	case t.str(name) != nil:
		var s string
		if s, err = asString(v); err == nil {
			*t.str(name) = &s
		}
	case t.flag(name) != nil:
		var b bool
		if b, err = asBool(v); err == nil {
			*t.flag(name) = &b
		}
	case t.list(name) != nil:
		*t.list(name), err = asList(v)
	case t.dict(name) != nil:
		*t.dict(name), err = asMap(v)
	case name == "secret":
		t.secrets, err = entries(v, secretOf)
	case name == "output":
		t.outputs, err = entries(v, outputOf)
	default:
		return fmt.Errorf("is not a target field")
	}
	if err != nil {
		return err
	}
	if name == "contexts" {
		for k := range t.contexts {
			t.set("contexts."+k, at, dirOf(at.file))
		}
	}
	t.set(name, at, dirOf(at.file))
	return nil
}

// entries reads a list of CSV strings or objects with parse.
func entries[T any](v cty.Value, parse func(map[string]string) (T, error)) ([]T, error) {
	ms, err := asEntries(v)
	if err != nil {
		return nil, err
	}
	out := []T{}
	for _, m := range ms {
		e, err := parse(m)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// dirOf is the directory of a definition file, "" for stdin.
func dirOf(file string) string {
	if file == "" || file == "-" {
		return ""
	}
	return filepath.Dir(file)
}
