package bake

import (
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/userfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// topSchema is what a bake file holds besides `function` blocks and
// top-level attributes (which are variables).
var topSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "group", LabelNames: []string{"name"}},
	{Type: "target", LabelNames: []string{"name"}},
}}

var groupSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "targets", Required: true}, {Name: "description"},
}}

// parseHCL parses a file in HCL's native syntax, or its JSON form.
func parseHCL(f File, json bool) (*hcl.File, error) {
	var file *hcl.File
	var diags hcl.Diagnostics
	if json {
		file, diags = hcljson.Parse(f.Data, f.Name)
	} else {
		file, diags = hclsyntax.ParseConfig(f.Data, f.Name, hcl.InitialPos)
	}
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	return file, nil
}

// hclDoc is the parts of the HCL files, before evaluation.
type hclDoc struct {
	vars    map[string]*variable
	groups  []*hcl.Block
	targets []*hcl.Block
	funcs   map[string]function.Function
}

// decodeHCL evaluates the parsed files, in order (a variable or target
// defined again is laid over the earlier definition), with env
// overriding variables.
func decodeHCL(files []*hcl.File, env map[string]string) (*config, error) {
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: functions()}
	doc := &hclDoc{vars: map[string]*variable{}, funcs: map[string]function.Function{}}
	for _, f := range files {
		if err := doc.add(f.Body, ctx); err != nil {
			return nil, err
		}
	}
	maps.Copy(ctx.Functions, doc.funcs)
	r := &resolver{vars: doc.vars, env: env, ctx: ctx}
	if err := r.resolveAll(); err != nil {
		return nil, err
	}
	c := &config{}
	for _, b := range doc.groups {
		g, err := decodeGroup(b, ctx)
		if err != nil {
			return nil, err
		}
		c.addGroup(g)
	}
	for _, b := range doc.targets {
		if err := decodeTargetBlock(c, b, ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// add collects one file's functions, variables, groups and targets.
func (d *hclDoc) add(body hcl.Body, ctx *hcl.EvalContext) error {
	funcs, rest, diags := userfunc.DecodeUserFunctions(body, "function", func() *hcl.EvalContext { return ctx })
	if diags.HasErrors() {
		return diagError(diags)
	}
	maps.Copy(d.funcs, funcs)
	content, rest, diags := rest.PartialContent(topSchema)
	if diags.HasErrors() {
		return diagError(diags)
	}
	attrs, err := topAttributes(rest)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		d.vars[name] = &variable{name: name, def: a.Expr, attr: true, at: srcOf(a.Range)}
	}
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			v, err := decodeVariable(b)
			if err != nil {
				return err
			}
			d.vars[v.name] = v
		case "group":
			d.groups = append(d.groups, b)
		case "target":
			d.targets = append(d.targets, b)
		}
	}
	return nil
}

// topAttributes returns a file's top-level attributes (what is left
// once its blocks are read); another kind of block is an error.
func topAttributes(rest hcl.Body) (hcl.Attributes, error) {
	sb, ok := rest.(*hclsyntax.Body)
	if !ok { // JSON: what is left are attributes
		attrs, diags := rest.JustAttributes()
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		return attrs, nil
	}
	for _, b := range sb.Blocks {
		switch b.Type {
		case "variable", "group", "target", "function":
		default:
			return nil, srcOf(b.TypeRange).errorf("unknown block type %q: a bake file holds variable, function, group and target blocks", b.Type)
		}
	}
	attrs := hcl.Attributes{}
	for name, a := range sb.Attributes {
		attrs[name] = a.AsHCLAttribute()
	}
	return attrs, nil
}

func decodeGroup(b *hcl.Block, ctx *hcl.EvalContext) (*group, error) {
	name := b.Labels[0]
	at := srcOf(b.DefRange)
	if !targetName.MatchString(name) {
		return nil, at.errorf("group %q: a name may hold only letters, digits, '_' and '-'", name)
	}
	content, diags := b.Body.Content(groupSchema)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	g := &group{name: name, at: at}
	a := content.Attributes["targets"]
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	g.at = srcOf(a.Range)
	var err error
	if g.targets, err = asList(v); err != nil {
		return nil, g.at.errorf("group %q: targets: %v", name, err)
	}
	if d, ok := content.Attributes["description"]; ok {
		v, diags := d.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		if g.description, err = asString(v); err != nil && !v.IsNull() {
			return nil, srcOf(d.Range).errorf("group %q: description: %v", name, err)
		}
	}
	return g, nil
}

// decodeTargetBlock adds a target block's targets to c: one, or one per
// combination of its matrix, named by its name expression, with a group
// of the block's label listing them (as buildx does).
func decodeTargetBlock(c *config, b *hcl.Block, ctx *hcl.EvalContext) error {
	label, at := b.Labels[0], srcOf(b.DefRange)
	content, diags := b.Body.Content(targetSchema)
	if diags.HasErrors() {
		return diagError(diags)
	}
	ctxs := []*hcl.EvalContext{ctx}
	m, hasMatrix := content.Attributes["matrix"]
	nameAttr, hasName := content.Attributes["name"]
	switch {
	case hasMatrix && !hasName:
		return srcOf(m.Range).errorf("target %q: a matrix needs a name expression (name = \"%s-${...}\")", label, label)
	case hasName && !hasMatrix:
		return srcOf(nameAttr.Range).errorf("target %q: name is only for targets with a matrix", label)
	case hasMatrix:
		var err error
		if ctxs, err = matrixContexts(label, m, ctx); err != nil {
			return err
		}
	}
	var names []string
	for _, ectx := range ctxs {
		name := label
		if hasName {
			v, diags := nameAttr.Expr.Value(ectx)
			if diags.HasErrors() {
				return diagError(diags)
			}
			s, err := asString(v)
			if err != nil || v.IsNull() {
				return srcOf(nameAttr.Range).errorf("target %q: name must be a string", label)
			}
			name = s
		}
		if !targetName.MatchString(name) {
			return at.errorf("target %q: a name may hold only letters, digits, '_' and '-'", name)
		}
		t, err := decodeTarget(name, content.Attributes, ectx, at)
		if err != nil {
			return err
		}
		c.addTarget(t)
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if hasMatrix && !(len(names) == 1 && names[0] == label) {
		c.addGroup(&group{name: label, targets: names, at: at})
	}
	return nil
}

// matrixContexts returns one evaluation context per combination of the
// matrix's values, the first key varying slowest.
func matrixContexts(label string, m *hcl.Attribute, ctx *hcl.EvalContext) ([]*hcl.EvalContext, error) {
	at := srcOf(m.Range)
	v, diags := m.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	if v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsMapType() || v.Type().IsObjectType()) {
		return nil, at.errorf("target %q: matrix must be a map of lists", label)
	}
	combos := []map[string]cty.Value{{}}
	vals := v.AsValueMap()
	for _, k := range sortedKeys(vals) {
		list := vals[k]
		if list.IsNull() || !list.CanIterateElements() || list.Type().IsMapType() || list.Type().IsObjectType() {
			return nil, at.errorf("target %q: matrix.%s must be a list", label, k)
		}
		var next []map[string]cty.Value
		for _, c := range combos {
			for it := list.ElementIterator(); it.Next(); {
				_, e := it.Element()
				c2 := maps.Clone(c)
				c2[k] = e
				next = append(next, c2)
			}
		}
		if len(next) > 10000 {
			return nil, at.errorf("target %q: matrix makes more than 10000 targets", label)
		}
		combos = next
	}
	out := make([]*hcl.EvalContext, 0, len(combos))
	for _, c := range combos {
		child := ctx.NewChild()
		child.Variables = c
		out = append(out, child)
	}
	return out, nil
}

// isJSON says whether a file of unknown kind looks like JSON.
func isJSON(data []byte) bool {
	return strings.HasPrefix(strings.TrimSpace(string(data)), "{")
}
