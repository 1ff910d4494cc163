package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/farmbuild/farm/engine"
)

// printed is farm bake --print's output, read back.
type printed struct {
	Group  map[string]struct{ Targets []string } `json:"group"`
	Target map[string]map[string]any             `json:"target"`
}

// bakeIn runs farm bake in dir with a farm whose node must never be
// contacted, and returns stdout and the error.
func bakeIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	t.Chdir(dir)
	noNode := func(context.Context, engine.Link) (engine.Builder, error) {
		t.Error("a node was contacted")
		return nil, errors.New("no")
	}
	out, _, err := farmCLIWith(t, noNode, append([]string{"bake"}, args...)...)
	return out, err
}

// mustPrint runs farm bake --print and reads its JSON.
func mustPrint(t *testing.T, dir string, args ...string) printed {
	t.Helper()
	out, err := bakeIn(t, dir, append([]string{"--print"}, args...)...)
	if err != nil {
		t.Fatalf("farm bake --print %s: %v", strings.Join(args, " "), err)
	}
	var p printed
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("--print is not JSON: %v\n%s", err, out)
	}
	return p
}

const bakeHCL = `
variable "TAG" { default = "dev" }
variable "REGISTRY" { default = "reg.example" }
group "default" { targets = ["app", "tools"] }
target "_common" {
  platforms = ["linux/amd64", "linux/arm64"]
  labels = { "org.example.team" = "build" }
}
target "base" {
  inherits = ["_common"]
  dockerfile = "base.Containerfile"
  tags = ["${REGISTRY}/base:${TAG}"]
}
target "app" {
  inherits = ["_common"]
  contexts = { base = "target:base" }
  tags = ["${REGISTRY}/app:${TAG}"]
}
target "tools" {
  matrix = { tool = ["lint", "test"] }
  name = "tools-${tool}"
  target = tool
}`

// --print of an HCL file: variables from the environment, inherits, a
// group, a matrix and a target: dependency, in buildx's shape.
func TestBakePrintHCL(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "n1", "unix:///nonexistent/n1.sock")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "docker-bake.hcl"), bakeHCL)
	t.Setenv("TAG", "1.2")
	p := mustPrint(t, dir)
	if got := p.Group["default"].Targets; !reflect.DeepEqual(got, []string{"app", "tools"}) {
		t.Errorf("default group %v", got)
	}
	if got := p.Group["tools"].Targets; !reflect.DeepEqual(got, []string{"tools-lint", "tools-test"}) {
		t.Errorf("matrix group %v", got)
	}
	want := map[string]map[string]any{
		"app": {"context": ".", "dockerfile": "Dockerfile", "contexts": map[string]any{"base": "target:base"},
			"tags": []any{"reg.example/app:1.2"}, "platforms": []any{"linux/amd64", "linux/arm64"},
			"labels": map[string]any{"org.example.team": "build"}},
		"base": {"context": ".", "dockerfile": "base.Containerfile", "tags": []any{"reg.example/base:1.2"},
			"platforms": []any{"linux/amd64", "linux/arm64"}, "labels": map[string]any{"org.example.team": "build"},
			"output": []any{map[string]any{"type": "cacheonly"}}},
		"tools-lint": {"context": ".", "dockerfile": "Dockerfile", "target": "lint"},
		"tools-test": {"context": ".", "dockerfile": "Dockerfile", "target": "test"},
	}
	if !reflect.DeepEqual(p.Target, want) {
		t.Errorf("targets:\n got %v\nwant %v", p.Target, want)
	}
	// Shell completion offers the file's groups and targets.
	if got := complete(t, "bake", "app", ""); !slices.Contains(got, "tools-lint") || !slices.Contains(got, "default") || slices.Contains(got, "app") {
		t.Errorf("completion: %v", got)
	}
	// --set and a named target.
	p = mustPrint(t, dir, "--set", "app.tags=other:1", "--set", "*.platforms=linux/arm64", "app")
	if got := p.Target["app"]["tags"]; !reflect.DeepEqual(got, []any{"other:1"}) || len(p.Target) != 2 {
		t.Errorf("--set: %v", p.Target)
	}
}

// --print of a JSON file naming one target, and of a compose file.
func TestBakePrintJSONAndCompose(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bake.json"), `{"target": {"one": {"tags": ["one:1"]}, "two": {}}}`)
	p := mustPrint(t, dir, "-f", "bake.json", "one")
	if len(p.Target) != 1 || !reflect.DeepEqual(p.Target["one"]["tags"], []any{"one:1"}) {
		t.Errorf("JSON: %v", p.Target)
	}
	writeFile(t, filepath.Join(dir, "compose.yaml"), "services:\n  web:\n    build:\n      context: web\n      args: [\"VERSION=${VERSION:-0}\"]\n    image: reg.example/web:${VERSION:-0}\n  db:\n    image: postgres\n")
	t.Setenv("VERSION", "3")
	p = mustPrint(t, dir)
	want := map[string]any{"context": "web", "dockerfile": "Dockerfile", "args": map[string]any{"VERSION": "3"}, "tags": []any{"reg.example/web:3"}}
	if len(p.Target) != 1 || !reflect.DeepEqual(p.Target["web"], want) {
		t.Errorf("compose: %v", p.Target)
	}
}

// A malformed file, or a name it lacks, is one line naming the file and
// line, exit 2, before any node is contacted; so is building, for now.
func TestBakeErrors(t *testing.T) {
	isolate(t)
	mustCLI(t, "connection", "add", "n1", "unix:///nonexistent/n1.sock")
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, content string
		args                []string
		want                string
	}{
		{"syntax", "docker-bake.hcl", "target \"a\" {\n  tags = [\n}\n", nil, "docker-bake.hcl:3: Invalid expression"},
		{"unknown field", "docker-bake.hcl", "target \"a\" {\n  colour = 1\n}\n", []string{"a"}, `docker-bake.hcl:2: Unsupported argument: An argument named "colour" is not expected here.`},
		{"cycle", "docker-bake.hcl", "target \"a\" {\n  contexts = { b = \"target:b\" }\n}\ntarget \"b\" {\n  contexts = { a = \"target:a\" }\n}\n", []string{"a"}, "docker-bake.hcl:5: dependency cycle: a -> b -> a"},
		{"undefined target", "docker-bake.hcl", "target \"a\" {\n  contexts = { b = \"target:nope\" }\n}\n", []string{"a"}, `docker-bake.hcl:2: target "a": contexts.b = "target:nope": no target "nope" (available: a)`},
		{"undefined group member", "docker-bake.hcl", "group \"default\" {\n  targets = [\"nope\"]\n}\n", nil, `docker-bake.hcl:2: group "default": no target or group "nope"`},
		{"undefined variable", "docker-bake.hcl", "target \"a\" {\n  tags = [\"x:${NOPE}\"]\n}\n", []string{"a"}, `docker-bake.hcl:2: Unknown variable: There is no variable named "NOPE".`},
		{"json syntax", "docker-bake.json", "{\n  \"target\": {\n    \"a\": {\"tags\": [\"x\",]}\n  }\n}", nil, "docker-bake.json:3:"},
		{"compose", "compose.yaml", "services:\n  a:\n    build:\n      colour: red\n", nil, `compose.yaml:4: service "a": unknown field build.colour`},
		{"no such target", "docker-bake.hcl", "target \"a\" {}\n", []string{"b"}, `no target or group "b" (available: a)`},
		{"no default", "docker-bake.hcl", "target \"a\" {}\n", nil, `no target or group "default" (available: a)`},
		{"bad --set", "docker-bake.hcl", "target \"a\" {}\n", []string{"--set", "a.colour=red", "a"}, `--set a.colour=red: unknown key "colour"`},
		{"missing -f", "docker-bake.hcl", "", []string{"-f", "nope.hcl"}, "nope.hcl: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(d, tc.file), tc.content)
			for _, print := range []bool{true, false} {
				args := tc.args
				if print {
					args = append([]string{"--print"}, args...)
				}
				out, err := bakeIn(t, d, args...)
				if ExitCode(err) != exitUsage || OneLine(err) != err.Error() || !strings.HasPrefix(err.Error(), tc.want) {
					t.Errorf("farm bake %v: exit %d, %q; want exit 2, %q", args, ExitCode(err), err, tc.want)
				}
				if out != "" {
					t.Errorf("farm bake %v printed %q", args, out)
				}
			}
		})
	}
	if err := os.MkdirAll(filepath.Join(dir, "ok"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "ok", "docker-bake.hcl"), "target \"default\" {}\n")
	// Without --print, what the client can check is checked before any
	// node is contacted: here, the Containerfile that is missing.
	if _, err := bakeIn(t, filepath.Join(dir, "ok")); ExitCode(err) != exitUsage || !strings.Contains(err.Error(), "Dockerfile") {
		t.Errorf("farm bake without --print: %v", err)
	}
}
