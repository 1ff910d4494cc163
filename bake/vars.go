package bake

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// variable is a `variable` block, or a top-level attribute (which the
// environment does not override, as in buildx).
type variable struct {
	name        string
	def, typ    hcl.Expression // nil when not given
	validations []validation
	attr        bool
	at          src
}

// validation is a variable's `validation` block.
type validation struct {
	cond, msg hcl.Expression
	at        src
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "default"}, {Name: "type"}, {Name: "description"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message", Required: true}},
}

// decodeVariable reads a variable block.
func decodeVariable(b *hcl.Block) (*variable, error) {
	content, diags := b.Body.Content(variableSchema)
	if diags.HasErrors() {
		return nil, diagError(diags)
	}
	v := &variable{name: b.Labels[0], at: srcOf(b.DefRange)}
	if a, ok := content.Attributes["default"]; ok {
		v.def = a.Expr
	}
	if a, ok := content.Attributes["type"]; ok {
		v.typ = a.Expr
	}
	for _, vb := range content.Blocks {
		vc, diags := vb.Body.Content(validationSchema)
		if diags.HasErrors() {
			return nil, diagError(diags)
		}
		v.validations = append(v.validations, validation{cond: vc.Attributes["condition"].Expr, msg: vc.Attributes["error_message"].Expr, at: srcOf(vb.DefRange)})
	}
	return v, nil
}

// resolver evaluates variables on demand, each once, in the order their
// defaults need them.
type resolver struct {
	vars  map[string]*variable
	env   map[string]string
	ctx   *hcl.EvalContext
	stack []string
}

// resolveAll evaluates every variable into r.ctx.
func (r *resolver) resolveAll() error {
	names := make([]string, 0, len(r.vars))
	for n := range r.vars {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := r.resolve(n); err != nil {
			return err
		}
	}
	return nil
}

func (r *resolver) resolve(name string) error {
	if _, done := r.ctx.Variables[name]; done {
		return nil
	}
	v := r.vars[name]
	if i := slices.Index(r.stack, name); i >= 0 {
		return v.at.errorf("variable %q: cycle: %s -> %s", name, strings.Join(r.stack[i:], " -> "), name)
	}
	r.stack = append(r.stack, name)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()

	typ, typed := cty.DynamicPseudoType, false
	if v.typ != nil {
		t, diags := typeexpr.TypeConstraint(v.typ)
		if diags.HasErrors() {
			return diagError(diags)
		}
		typ, typed = t, true
	}
	val := cty.StringVal("")
	if typed {
		val = cty.NullVal(typ)
	}
	if v.def != nil {
		for _, tr := range v.def.Variables() {
			if _, ok := r.vars[tr.RootName()]; ok {
				if err := r.resolve(tr.RootName()); err != nil {
					return err
				}
			}
		}
		dv, diags := v.def.Value(r.ctx)
		if diags.HasErrors() {
			return diagError(diags)
		}
		cv, err := convert.Convert(dv, typ)
		if err != nil {
			return srcOf(v.def.Range()).errorf("variable %q: default is not a %s: %v", name, typ.FriendlyName(), err)
		}
		val = cv
	}
	if !v.attr {
		var err error
		if val, err = r.fromEnv(v, val, typ, typed); err != nil {
			return err
		}
	}
	r.ctx.Variables[name] = val
	return r.validate(v)
}

// fromEnv overrides a variable's value from the environment as buildx
// does: NAME converted to the variable's type (or its default's); for a
// typed variable, NAME_JSON as JSON first (unless a variable has that
// name).
func (r *resolver) fromEnv(v *variable, val cty.Value, typ cty.Type, typed bool) (cty.Value, error) {
	s, ok := r.env[v.name]
	_, declared := r.vars[v.name+"_JSON"]
	if j, jok := r.env[v.name+"_JSON"]; typed && jok && !declared {
		out, err := ctyjson.Unmarshal([]byte(j), typ)
		if err != nil {
			return val, v.at.errorf("variable %q: %s_JSON from the environment is not a %s: %v", v.name, v.name, typ.FriendlyName(), err)
		}
		return out, nil
	}
	if !ok {
		return val, nil
	}
	if !typed {
		typ = val.Type()
		if v.def == nil || typ == cty.DynamicPseudoType {
			return cty.StringVal(s), nil
		}
	}
	switch {
	case typ.IsPrimitiveType():
		return primitive(v, s, typ)
	case (typ.IsListType() || typ.IsSetType()) && typ.ElementType().IsPrimitiveType():
		fields, err := csv.NewReader(strings.NewReader(s)).Read()
		if err != nil && s != "" {
			return val, v.at.errorf("variable %q: %s from the environment is not a comma-separated list: %v", v.name, v.name, err)
		}
		vals := make([]cty.Value, 0, len(fields))
		for _, f := range fields {
			ev, err := primitive(v, strings.TrimSpace(f), typ.ElementType())
			if err != nil {
				return val, err
			}
			vals = append(vals, ev)
		}
		if len(vals) == 0 {
			return cty.ListValEmpty(typ.ElementType()), nil
		}
		out, err := convert.Convert(cty.TupleVal(vals), typ)
		if err != nil {
			return val, v.at.errorf("variable %q: %v", v.name, err)
		}
		return out, nil
	default:
		return val, v.at.errorf("variable %q: a %s cannot be set from the environment (give %s_JSON with a type)", v.name, typ.FriendlyName(), v.name)
	}
}

// primitive converts an environment value to a primitive type.
func primitive(v *variable, s string, typ cty.Type) (cty.Value, error) {
	switch typ {
	case cty.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return cty.NilVal, v.at.errorf("variable %q: %q from the environment is not a bool", v.name, s)
		}
		return cty.BoolVal(b), nil
	case cty.Number:
		n, err := cty.ParseNumberVal(s)
		if err != nil {
			return cty.NilVal, v.at.errorf("variable %q: %q from the environment is not a number", v.name, s)
		}
		return n, nil
	default:
		return cty.StringVal(s), nil
	}
}

// validate runs a variable's validation blocks.
func (r *resolver) validate(v *variable) error {
	for _, vd := range v.validations {
		for _, tr := range append(vd.cond.Variables(), vd.msg.Variables()...) {
			if _, ok := r.vars[tr.RootName()]; ok && tr.RootName() != v.name {
				if err := r.resolve(tr.RootName()); err != nil {
					return err
				}
			}
		}
		ok, diags := vd.cond.Value(r.ctx)
		if diags.HasErrors() {
			return diagError(diags)
		}
		if ok, err := convert.Convert(ok, cty.Bool); err != nil || ok.IsNull() || !ok.IsKnown() {
			return srcOf(vd.cond.Range()).errorf("variable %q: the validation condition is not a bool", v.name)
		} else if ok.True() {
			continue
		}
		msg, diags := vd.msg.Value(r.ctx)
		if diags.HasErrors() {
			return diagError(diags)
		}
		text := fmt.Sprintf("variable %q is not valid", v.name)
		if s, err := convert.Convert(msg, cty.String); err == nil && !s.IsNull() && s.IsKnown() {
			text = fmt.Sprintf("variable %q: %s", v.name, s.AsString())
		}
		return srcOf(vd.cond.Range()).errorf("%s", text)
	}
	return nil
}
