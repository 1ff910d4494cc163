package bake

import (
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// functions are the functions a bake file can call: buildx's pure,
// deterministic ones that hcl's and cty's standard libraries provide,
// under buildx's names (docs/bake.md lists them). Functions that read
// the clock, the disk or the user's home are left out, so that a
// definition resolves the same on every run.
func functions() map[string]function.Function {
	return map[string]function.Function{
		// Logic and comparison.
		"and":                  stdlib.AndFunc,
		"or":                   stdlib.OrFunc,
		"not":                  stdlib.NotFunc,
		"equal":                stdlib.EqualFunc,
		"notequal":             stdlib.NotEqualFunc,
		"greaterthan":          stdlib.GreaterThanFunc,
		"greaterthanorequalto": stdlib.GreaterThanOrEqualToFunc,
		"lessthan":             stdlib.LessThanFunc,
		"lessthanorequalto":    stdlib.LessThanOrEqualToFunc,
		"coalesce":             stdlib.CoalesceFunc,
		"can":                  tryfunc.CanFunc,
		"try":                  tryfunc.TryFunc,
		// Strings.
		"join":          stdlib.JoinFunc,
		"split":         stdlib.SplitFunc,
		"lower":         stdlib.LowerFunc,
		"upper":         stdlib.UpperFunc,
		"title":         stdlib.TitleFunc,
		"trim":          stdlib.TrimFunc,
		"trimspace":     stdlib.TrimSpaceFunc,
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"chomp":         stdlib.ChompFunc,
		"replace":       stdlib.ReplaceFunc,
		"regex":         stdlib.RegexFunc,
		"regexall":      stdlib.RegexAllFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"format":        stdlib.FormatFunc,
		"formatlist":    stdlib.FormatListFunc,
		"substr":        stdlib.SubstrFunc,
		"strlen":        stdlib.StrlenFunc,
		"indent":        stdlib.IndentFunc,
		// Collections.
		"concat":       stdlib.ConcatFunc,
		"contains":     stdlib.ContainsFunc,
		"distinct":     stdlib.DistinctFunc,
		"element":      stdlib.ElementFunc,
		"flatten":      stdlib.FlattenFunc,
		"index":        stdlib.IndexFunc,
		"keys":         stdlib.KeysFunc,
		"values":       stdlib.ValuesFunc,
		"length":       stdlib.LengthFunc,
		"lookup":       stdlib.LookupFunc,
		"merge":        stdlib.MergeFunc,
		"range":        stdlib.RangeFunc,
		"reverselist":  stdlib.ReverseListFunc,
		"sort":         stdlib.SortFunc,
		"slice":        stdlib.SliceFunc,
		"compact":      stdlib.CompactFunc,
		"coalescelist": stdlib.CoalesceListFunc,
		// Numbers.
		"add":      stdlib.AddFunc,
		"subtract": stdlib.SubtractFunc,
		"multiply": stdlib.MultiplyFunc,
		"divide":   stdlib.DivideFunc,
		"modulo":   stdlib.ModuloFunc,
		"min":      stdlib.MinFunc,
		"max":      stdlib.MaxFunc,
		"absolute": stdlib.AbsoluteFunc,
		"ceil":     stdlib.CeilFunc,
		"floor":    stdlib.FloorFunc,
		"int":      stdlib.IntFunc,
		"parseint": stdlib.ParseIntFunc,
		// Encoding.
		"jsonencode": stdlib.JSONEncodeFunc,
		"jsondecode": stdlib.JSONDecodeFunc,
	}
}
