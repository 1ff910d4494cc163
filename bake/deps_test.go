package bake

import (
	"reflect"
	"slices"
	"testing"
)

// A context target:NAME makes NAME a dependency: built before (Order),
// named in Deps, and, when it was not asked for, built without output.
func TestDependencies(t *testing.T) {
	const file = `
target "base" {
  platforms = ["linux/amd64", "linux/arm64/v8"]
}
target "mid" {
  contexts = { base = "target:base" }
  platforms = ["linux/arm64", "linux/amd64"]
}
target "app" {
  contexts = { mid = "target:mid", base = "target:base", src = "./src" }
}
target "other" {}`
	def := mustLoad(t, files("docker-bake.hcl", file), []string{"other", "app"}, Options{})
	if !slices.Equal(def.Order, []string{"base", "mid", "app", "other"}) {
		t.Errorf("order %v", def.Order)
	}
	app, mid, base := target(t, def, "app"), target(t, def, "mid"), target(t, def, "base")
	if !slices.Equal(app.Deps, []string{"base", "mid"}) || !slices.Equal(mid.Deps, []string{"base"}) || base.Deps != nil {
		t.Errorf("deps: app %v, mid %v, base %v", app.Deps, mid.Deps, base.Deps)
	}
	if !base.Linked || !mid.Linked || app.Linked || !reflect.DeepEqual(base.Outputs, []Output{{Type: "cacheonly"}}) {
		t.Errorf("linked: base %v %v, mid %v, app %v", base.Linked, base.Outputs, mid.Linked, app.Linked)
	}
	if got := def.Groups["default"].Targets; !slices.Equal(got, []string{"app", "other"}) {
		t.Errorf("the default group lists what was asked for: %v", got)
	}
	// A dependency that was asked for keeps its outputs.
	def = mustLoad(t, files("docker-bake.hcl", file), []string{"app", "base"}, Options{})
	if target(t, def, "base").Linked || !target(t, def, "mid").Linked {
		t.Errorf("base was asked for: %+v", def.Targets["base"])
	}
}

func TestDependencyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		want       string
	}{
		{"cycle", "target \"a\" {\n  contexts = { b = \"target:b\" }\n}\ntarget \"b\" {\n  contexts = { c = \"target:c\" }\n}\ntarget \"c\" {\n  contexts = { a = \"target:a\" }\n}", 8, "dependency cycle: a -> b -> c -> a"},
		{"itself", "target \"a\" {\n  contexts = { me = \"target:a\" }\n}", 2, `contexts.me names the target itself`},
		{"undefined", "target \"a\" {\n  tags = []\n  contexts = { b = \"target:nope\" }\n}", 3, `contexts.b = "target:nope": no target "nope" (available: a)`},
		{"platforms", "target \"a\" {\n  platforms = [\"linux/amd64\", \"linux/s390x\"]\n  contexts = { b = \"target:b\" }\n}\ntarget \"b\" {\n  platforms = [\"linux/amd64\", \"linux/arm64\"]\n}", 3, `its platforms linux/amd64,linux/s390x are not all among those of "b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, files("docker-bake.hcl", tc.file), []string{"a"}, Options{}, "docker-bake.hcl", tc.line, tc.want)
		})
	}
}

// Paths resolve as buildx resolves them: context against the working
// directory, the Containerfile against the context; with
// FileRelativePaths, context and contexts against the directory of the
// file that sets them (compose files: the first compose file's), --set
// values still against the working directory.
func TestPaths(t *testing.T) {
	const hcl = `
target "app" {
  context = "app"
  dockerfile = "build/Containerfile"
  contexts = { assets = "../assets", img = "docker-image://alpine", git = "https://github.com/o/r.git", oci = "oci-layout://./layout:tag", here = "cwd://x" }
}
target "default-context" {}
target "absolute" {
  context = "/abs/ctx"
  dockerfile = "/abs/Containerfile"
}
target "cwd" {
  context = "cwd://c"
  dockerfile = "cwd://d/Containerfile"
}
target "remote" {
  context = "https://github.com/o/r.git#main"
}`
	type paths struct{ context, dir, file string }
	for _, tc := range []struct {
		name     string
		relative bool
		set      []string
		want     map[string]paths
		named    map[string]NamedContext
	}{
		{"working directory", false, nil, map[string]paths{
			"app":             {"app", "/w/app", "/w/app/build/Containerfile"},
			"default-context": {".", "/w", "/w/Dockerfile"},
			"absolute":        {"/abs/ctx", "/abs/ctx", "/abs/Containerfile"},
			"cwd":             {"cwd://c", "/w/c", "/w/d/Containerfile"},
			"remote":          {"https://github.com/o/r.git#main", "", ""},
		}, map[string]NamedContext{
			"assets": {ContextLocal, "/assets"}, "img": {ContextImage, "alpine"}, "git": {ContextURL, "https://github.com/o/r.git"},
			"oci": {ContextOCILayout, "./layout:tag"}, "here": {ContextLocal, "/w/x"},
		}},
		{"file-relative", true, nil, map[string]paths{
			"app":             {"sub/app", "/w/sub/app", "/w/sub/app/build/Containerfile"},
			"default-context": {"sub", "/w/sub", "/w/sub/Dockerfile"},
			"absolute":        {"/abs/ctx", "/abs/ctx", "/abs/Containerfile"},
			"cwd":             {"cwd://c", "/w/c", "/w/d/Containerfile"},
		}, map[string]NamedContext{"assets": {ContextLocal, "/w/assets"}, "here": {ContextLocal, "/w/x"}}},
		{"file-relative with --set", true, []string{"app.context=mine", "app.contexts.assets=a"}, map[string]paths{
			"app": {"mine", "/w/mine", "/w/mine/build/Containerfile"},
		}, map[string]NamedContext{"assets": {ContextLocal, "/w/a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := mustLoad(t, files("sub/docker-bake.hcl", hcl), []string{"app", "default-context", "absolute", "cwd", "remote"},
				Options{Dir: "/w", FileRelativePaths: tc.relative, Set: tc.set})
			for name, want := range tc.want {
				tg := target(t, def, name)
				if got := (paths{tg.Context, tg.ContextDir, tg.ContainerfilePath}); got != want {
					t.Errorf("%s: %+v, want %+v", name, got, want)
				}
			}
			for k, want := range tc.named {
				if got := def.Targets["app"].NamedContexts[k]; got != want {
					t.Errorf("contexts.%s: %+v, want %+v", k, got, want)
				}
			}
		})
	}
	// Compose files: the first compose file's directory.
	fs := files("c/compose.yaml", "services:\n  a:\n    build: web\n", "d/compose.override.yaml", "services:\n  b:\n    build: api\n")
	def := mustLoad(t, fs, nil, Options{Dir: "/w", FileRelativePaths: true})
	if a, b := target(t, def, "a"), target(t, def, "b"); a.ContextDir != "/w/c/web" || b.ContextDir != "/w/c/api" {
		t.Errorf("compose: a %s, b %s", a.ContextDir, b.ContextDir)
	}
}
