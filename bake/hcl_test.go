package bake

import (
	"maps"
	"slices"
	"testing"
)

// Variables take their defaults, which the environment overrides
// (converted to the variable's type), and may use each other.
func TestVariables(t *testing.T) {
	const file = `
variable "TAG" { default = "latest" }
variable "REPO" { default = "reg.example/${NAME}" }
variable "NAME" { default = "app" }
variable "DEBUG" { default = false }
variable "N" { default = 1 }
variable "LIST" {
  type = list(string)
  default = ["a"]
}
variable "EMPTY" {}
FIXED = "f"
target "default" {
  args = {
    TAG = TAG
    REPO = REPO
    DEBUG = DEBUG ? "on" : "off"
    N = N + 1
    LIST = join("+", LIST)
    EMPTY = "[${EMPTY}]"
    FIXED = FIXED
  }
}`
	for _, tc := range []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{"defaults", nil, map[string]string{"TAG": "latest", "REPO": "reg.example/app", "DEBUG": "off", "N": "2", "LIST": "a", "EMPTY": "[]", "FIXED": "f"}},
		{"environment", map[string]string{"TAG": "1.2", "NAME": "tool", "DEBUG": "true", "N": "41", "LIST": "x,y", "EMPTY": "e", "FIXED": "ignored"},
			map[string]string{"TAG": "1.2", "REPO": "reg.example/tool", "DEBUG": "on", "N": "42", "LIST": "x+y", "EMPTY": "[e]", "FIXED": "f"}},
		{"JSON for a typed variable", map[string]string{"LIST_JSON": `["j","k"]`}, map[string]string{"LIST": "j+k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := mustLoad(t, files("docker-bake.hcl", file), nil, Options{Env: tc.env})
			got := target(t, def, "default").Args
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("args[%s] = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestVariableErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		line       int
		want       string
	}{
		{"undefined", "target \"a\" {\n  tags = [\"x:${NOPE}\"]\n}", nil, 2, `There is no variable named "NOPE"`},
		{"cycle", "variable \"A\" { default = B }\nvariable \"B\" { default = A }\ntarget \"a\" {}", nil, 1, "cycle: A -> B -> A"},
		{"not a bool", "variable \"D\" { default = false }\ntarget \"a\" {}", map[string]string{"D": "maybe"}, 1, `"maybe" from the environment is not a bool`},
		{"not a number", "variable \"N\" { default = 1 }\ntarget \"a\" {}", map[string]string{"N": "x"}, 1, "not a number"},
		{"validation", "variable \"V\" {\n  default = \"x\"\n  validation {\n    condition = V != \"x\"\n    error_message = \"V must not be x\"\n  }\n}\ntarget \"a\" {}", nil, 4, "V must not be x"},
		{"unknown function", "target \"a\" {\n  tags = [nope(\"x\")]\n}", nil, 2, `There is no function named "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, files("docker-bake.hcl", tc.file), []string{"a"}, Options{Env: tc.env}, "docker-bake.hcl", tc.line, tc.want)
		})
	}
}

// The documented functions work under buildx's names, and user-defined
// functions too.
func TestFunctions(t *testing.T) {
	def := loadHCL(t, `
function "tag" {
  params = [name, version]
  result = "reg.example/${name}:${version}"
}
target "default" {
  args = {
    equal = equal("a", "a")
    notequal = notequal("a", "b")
    and = and(true, false)
    or = or(true, false)
    join = join(",", ["a", "b"])
    lower = lower("ABC")
    upper = upper("abc")
    format = format("%s-%d", "v", 2)
    replace = replace("a.b", ".", "_")
    regex_replace = regex_replace("v1.2.3", "^v", "")
    trimprefix = trimprefix("v1", "v")
    split = length(split(",", "a,b,c"))
    try = try(nope.x, "fallback")
    coalesce = coalesce(null, "second")
    contains = contains(["a"], "a")
    user = tag("app", "1")
  }
}`)
	want := map[string]string{"equal": "true", "notequal": "true", "and": "false", "or": "true", "join": "a,b",
		"lower": "abc", "upper": "ABC", "format": "v-2", "replace": "a_b", "regex_replace": "1.2.3", "trimprefix": "1",
		"split": "3", "try": "fallback", "coalesce": "second", "contains": "true", "user": "reg.example/app:1"}
	if got := target(t, def, "default").Args; !maps.Equal(got, want) {
		t.Errorf("args = %v\nwant %v", got, want)
	}
}

// inherits merges as buildx does: maps by key, lists replaced (but
// annotations appended), the target's own fields last; --set on a parent
// reaches the children that do not set the field.
func TestInherits(t *testing.T) {
	const file = `
target "_base" {
  args = { A = "base", B = "base" }
  tags = ["base:1"]
  annotations = ["index:a=1"]
  platforms = ["linux/amd64"]
  secret = ["id=s,src=base.txt"]
}
target "_more" {
  inherits = ["_base"]
  args = { B = "more", C = "more" }
  labels = { l = "more" }
}
target "app" {
  inherits = ["_more"]
  args = { C = "app" }
  annotations = ["index:b=2"]
  secret = ["id=s,src=app.txt", "id=t,env=T"]
}`
	def := mustLoad(t, files("docker-bake.hcl", file), []string{"app"}, Options{Set: []string{"_base.platforms=linux/arm64"}})
	app := target(t, def, "app")
	if want := map[string]string{"A": "base", "B": "more", "C": "app"}; !maps.Equal(app.Args, want) {
		t.Errorf("args %v, want %v", app.Args, want)
	}
	if !slices.Equal(app.Tags, []string{"base:1"}) || app.Labels["l"] != "more" {
		t.Errorf("tags %v labels %v", app.Tags, app.Labels)
	}
	if !slices.Equal(app.Annotations, []string{"index:a=1", "index:b=2"}) {
		t.Errorf("annotations %v", app.Annotations)
	}
	if !slices.Equal(app.Platforms, []string{"linux/arm64"}) {
		t.Errorf("platforms %v: --set on an inherited target reaches its children", app.Platforms)
	}
	if want := []Secret{{ID: "s", Src: "app.txt"}, {ID: "t", Env: "T"}}; !slices.Equal(app.Secrets, want) {
		t.Errorf("secrets %v, want %v", app.Secrets, want)
	}
	if len(def.Targets) != 1 {
		t.Errorf("inherited targets are not built: %v", def.Order)
	}

	for _, tc := range []struct {
		name, file string
		line       int
		want       string
	}{
		{"undefined", "target \"app\" {\n  inherits = [\"nope\"]\n}", 2, `inherits "nope", which is not a target`},
		{"cycle", "target \"app\" {\n  inherits = [\"b\"]\n}\ntarget \"b\" {\n  inherits = [\"app\"]\n}", 5, `target "b": inherits cycle: app -> b -> app`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, files("docker-bake.hcl", tc.file), []string{"app"}, Options{}, "docker-bake.hcl", tc.line, tc.want)
		})
	}
}

// A group names targets and groups; the default group is built when no
// name is given; the printed "default" group lists what was asked for.
func TestGroups(t *testing.T) {
	const file = `
group "default" { targets = ["all"] }
group "all" { targets = ["a", "nested"] }
group "nested" { targets = ["b", "all"] }
target "a" {}
target "b" {}
target "c" {}
target "c2" {}`
	for _, tc := range []struct {
		names, targets, groups, defaultGroup []string
	}{
		{nil, []string{"a", "b"}, []string{"all", "default", "nested"}, []string{"all"}},
		{[]string{"c"}, []string{"c"}, []string{"default"}, []string{"c"}},
		{[]string{"nested", "c"}, []string{"a", "b", "c"}, []string{"all", "default", "nested"}, []string{"c", "nested"}},
		{[]string{"c*"}, []string{"c", "c2"}, []string{"default"}, []string{"c", "c2"}},
	} {
		def := mustLoad(t, files("docker-bake.hcl", file), tc.names, Options{})
		if got := slices.Sorted(maps.Keys(def.Targets)); !slices.Equal(got, tc.targets) {
			t.Errorf("%v: targets %v, want %v", tc.names, got, tc.targets)
		}
		if got := slices.Sorted(maps.Keys(def.Groups)); !slices.Equal(got, tc.groups) {
			t.Errorf("%v: groups %v, want %v", tc.names, got, tc.groups)
		}
		if got := def.Groups["default"].Targets; !slices.Equal(got, tc.defaultGroup) {
			t.Errorf("%v: default group %v, want %v", tc.names, got, tc.defaultGroup)
		}
	}
	// buildx prints the default group sorted.
	def := loadHCL(t, "group \"default\" { targets = [\"b\", \"a\"] }\ntarget \"a\" {}\ntarget \"b\" {}")
	if got := def.Groups["default"].Targets; !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("default group %v", got)
	}
	// A target named "default" is the default too.
	if def := loadHCL(t, `target "default" {}`); def.Targets["default"] == nil {
		t.Errorf("target default not built: %v", def.Order)
	}

	fs := files("docker-bake.hcl", "target \"a\" {}\ngroup \"g\" {\n  targets = [\"a\", \"nope\"]\n}")
	wantFail(t, fs, []string{"g"}, Options{}, "docker-bake.hcl", 3, `group "g": no target or group "nope" (available: a, g)`)
	fe := mustFail(t, fs, nil, Options{})
	if fe.File != "" || fe.Problem != `no target or group "default" (available: a, g)` {
		t.Errorf("no default: %q", fe)
	}
	if fe := mustFail(t, fs, []string{"x*"}, Options{}); fe.Problem != `no target or group matches "x*" (available: a, g)` {
		t.Errorf("pattern matching nothing: %q", fe)
	}
}

// A matrix makes one target per combination, named by its name
// expression, and a group of the block's label listing them.
func TestMatrix(t *testing.T) {
	def := loadHCL(t, `
target "app" {
  matrix = {
    tgt = ["web", "api"]
    v = [{ go = "1.22", tag = "old" }, { go = "1.23", tag = "new" }]
  }
  name = "app-${tgt}-${v.tag}"
  target = tgt
  args = { GO = v.go }
}`, "app")
	want := []string{"app-api-new", "app-api-old", "app-web-new", "app-web-old"}
	if got := slices.Sorted(maps.Keys(def.Targets)); !slices.Equal(got, want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	if g := def.Groups["app"]; g == nil || len(g.Targets) != 4 {
		t.Errorf("group app: %+v", g)
	}
	if tg := def.Targets["app-web-old"]; tg.Stage != "web" || tg.Args["GO"] != "1.22" {
		t.Errorf("app-web-old: %+v", tg)
	}
	for _, tc := range []struct {
		file string
		line int
		want string
	}{
		{"target \"a\" {\n  matrix = { v = [\"1\"] }\n}", 2, "a matrix needs a name expression"},
		{"target \"a\" {\n  name = \"b\"\n}", 2, "name is only for targets with a matrix"},
		{"target \"a\" {\n  matrix = { v = \"1\" }\n  name = \"a-${v}\"\n}", 2, "matrix.v must be a list"},
		{"target \"a\" {\n  matrix = { v = [\"x y\"] }\n  name = \"a-${v}\"\n}", 1, `target "a-x y": a name may hold only`},
	} {
		wantFail(t, files("docker-bake.hcl", tc.file), []string{"a"}, Options{}, "docker-bake.hcl", tc.line, tc.want)
	}
}
