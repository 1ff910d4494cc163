package bake

import (
	"reflect"
	"strings"
	"testing"
)

const setFile = `
target "app" {
  tags = ["app:1"]
  platforms = ["linux/amd64"]
  args = { A = "a" }
  secret = ["id=tok,src=tok.txt"]
}
target "tool" {
  tags = ["tool:1"]
}`

// --set lays values over the files' as buildx does: TARGET a name or a
// pattern, lists replaced (or added to with +=, or by repeating the key),
// named keys (args.K, labels.K, contexts.K) set one entry.
func TestSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		env  map[string]string
		want func(*Target) any
		app  any
		tool any
	}{
		{"tags replaced", []string{"app.tags=x:1"}, nil, func(t *Target) any { return t.Tags }, []string{"x:1"}, []string{"tool:1"}},
		{"tags added", []string{"app.tags+=x:1"}, nil, func(t *Target) any { return t.Tags }, []string{"app:1", "x:1"}, []string{"tool:1"}},
		{"repeated key gathers", []string{"*.tags=x:1", "*.tags=y:1"}, nil, func(t *Target) any { return t.Tags }, []string{"x:1", "y:1"}, []string{"x:1", "y:1"}},
		{"pattern", []string{"t*.platform=linux/arm64"}, nil, func(t *Target) any { return t.Platforms }, []string{"linux/amd64"}, []string{"linux/arm64"}},
		{"platforms spelled so too", []string{"app.platforms=linux/arm64"}, nil, func(t *Target) any { return t.Platforms }, []string{"linux/arm64"}, []string(nil)},
		{"platforms comma-separated", []string{"*.platform=linux/arm64,linux/amd64"}, nil, func(t *Target) any { return t.Platforms }, []string{"linux/arm64", "linux/amd64"}, []string{"linux/arm64", "linux/amd64"}},
		{"args", []string{"*.args.B=b"}, nil, func(t *Target) any { return t.Args }, map[string]string{"A": "a", "B": "b"}, map[string]string{"B": "b"}},
		{"args from the environment", []string{"app.args.HOME", "app.args.UNSET"}, map[string]string{"HOME": "/h"}, func(t *Target) any { return t.Args }, map[string]string{"A": "a", "HOME": "/h"}, map[string]string(nil)},
		{"labels", []string{"tool.labels.l=v"}, nil, func(t *Target) any { return t.Labels }, map[string]string(nil), map[string]string{"l": "v"}},
		{"contexts", []string{"tool.contexts.base=docker-image://alpine"}, nil, func(t *Target) any { return t.Contexts }, map[string]string(nil), map[string]string{"base": "docker-image://alpine"}},
		{"bools", []string{"app.no-cache=true", "app.pull=1"}, nil, func(t *Target) any { return [2]bool{t.NoCache, t.Pull} }, [2]bool{true, true}, [2]bool{}},
		{"scalars", []string{"app.context=src", "app.dockerfile=Other", "app.target=final"}, nil,
			func(t *Target) any { return [3]string{t.Context, t.Dockerfile, t.Stage} }, [3]string{"src", "Other", "final"}, [3]string{".", "Dockerfile", ""}},
		{"secret changed", []string{"app.secret.tok=env=TOKEN"}, nil, func(t *Target) any { return t.Secrets }, []Secret{{ID: "tok", Env: "TOKEN"}}, []Secret(nil)},
		{"secrets added", []string{"app.secrets+=id=k,src=k.txt"}, nil, func(t *Target) any { return t.Secrets }, []Secret{{ID: "tok", Src: "tok.txt"}, {ID: "k", Src: "k.txt"}}, []Secret(nil)},
		{"output", []string{"*.output=type=registry"}, nil, func(t *Target) any { return t.Outputs }, []Output{{Type: "registry"}}, []Output{{Type: "registry"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := mustLoad(t, files("docker-bake.hcl", setFile), []string{"app", "tool"}, Options{Set: tc.set, Env: tc.env})
			if got := tc.want(target(t, def, "app")); !reflect.DeepEqual(got, tc.app) {
				t.Errorf("app: %#v, want %#v", got, tc.app)
			}
			if got := tc.want(target(t, def, "tool")); !reflect.DeepEqual(got, tc.tool) {
				t.Errorf("tool: %#v, want %#v", got, tc.tool)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"tags=x", "--set tags=x: use TARGET.KEY=VALUE"},
		{"app.colour=red", `--set app.colour=red: unknown key "colour"`},
		{"app.cache-from=type=gha", `"cache-from" is a buildx key farm bake does not support`},
		{"app.push=true", `"push" is a buildx key farm bake does not support`},
		{"app.args=x", "args needs a name: app.args.NAME=VALUE"},
		{"app.tags", "use TARGET.KEY=VALUE"},
		{"app.context+=x", "context cannot be added to with +="},
		{"nope.tags=x", "no target matches nope (available: app, tool)"},
		{"app.no-cache=often", "use true or false"},
		{"app.secret.nope=src=x", `target "app" declares no secret "nope"`},
		{"app.output=dest=x", "give type=TYPE"},
		{"app.platform=linux/x", `unknown architecture "x"`},
	} {
		fe := mustFail(t, files("docker-bake.hcl", setFile), []string{"app"}, Options{Set: []string{tc.set}})
		if !strings.Contains(fe.Error(), tc.want) {
			t.Errorf("--set %s: %q, want %q", tc.set, fe, tc.want)
		}
	}
}
