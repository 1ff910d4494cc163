package bake

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// appHCL sets every supported field; appJSON is the same in JSON form.
const appHCL = `
variable "TAG" { default = "1.0" }
target "app" {
  description = "the app"
  context = "src"
  dockerfile = "build/Containerfile"
  args = { A = "a", SKIPPED = null }
  labels = { "org.opencontainers.image.title" = "app" }
  annotations = ["index,manifest:org.example=1"]
  tags = ["reg.example/app:${TAG}", "reg.example/app:latest"]
  platforms = ["linux/amd64", "linux/arm64"]
  target = "final"
  no-cache = true
  pull = true
  secret = ["id=token,src=token.txt", { id = "key", env = "KEY" }, "type=env,id=e"]
  output = ["type=registry", { type = "oci", dest = "out" }]
  contexts = { base = "docker-image://alpine:3.20", assets = "../assets" }
}`

const appJSON = `{
  "variable": {"TAG": {"default": "1.0"}},
  "target": {
    "app": {
      "description": "the app",
      "context": "src",
      "dockerfile": "build/Containerfile",
      "args": {"A": "a", "SKIPPED": null},
      "labels": {"org.opencontainers.image.title": "app"},
      "annotations": ["index,manifest:org.example=1"],
      "tags": ["reg.example/app:${TAG}", "reg.example/app:latest"],
      "platforms": ["linux/amd64", "linux/arm64"],
      "target": "final",
      "no-cache": true,
      "pull": true,
      "secret": ["id=token,src=token.txt", {"id": "key", "env": "KEY"}, "type=env,id=e"],
      "output": ["type=registry", {"type": "oci", "dest": "out"}],
      "contexts": {"base": "docker-image://alpine:3.20", "assets": "../assets"}
    }
  }
}`

func wantApp() *Target {
	return &Target{
		Name: "app", Description: "the app", Context: "src", Dockerfile: "build/Containerfile",
		Args: map[string]string{"A": "a"}, Labels: map[string]string{"org.opencontainers.image.title": "app"},
		Annotations: []string{"index,manifest:org.example=1"},
		Tags:        []string{"reg.example/app:1.0", "reg.example/app:latest"},
		Platforms:   []string{"linux/amd64", "linux/arm64"}, Stage: "final", NoCache: true, Pull: true,
		Secrets:    []Secret{{ID: "token", Src: "token.txt"}, {ID: "key", Env: "KEY"}, {ID: "e"}},
		Outputs:    []Output{{Type: "registry"}, {Type: "oci", Dest: "out"}},
		Contexts:   map[string]string{"base": "docker-image://alpine:3.20", "assets": "../assets"},
		ContextDir: "/work/src", ContainerfilePath: "/work/src/build/Containerfile",
		NamedContexts: map[string]NamedContext{
			"base":   {Kind: ContextImage, Value: "alpine:3.20"},
			"assets": {Kind: ContextLocal, Value: "/assets"},
		},
	}
}

// Every supported field is read, from HCL and from its JSON form alike.
func TestFields(t *testing.T) {
	for _, f := range []File{{Name: "docker-bake.hcl", Data: []byte(appHCL)}, {Name: "docker-bake.json", Data: []byte(appJSON)}} {
		def := mustLoad(t, []File{f}, []string{"app"}, Options{})
		if got := target(t, def, "app"); !reflect.DeepEqual(got, wantApp()) {
			t.Errorf("%s:\n got %+v\nwant %+v", f.Name, got, wantApp())
		}
	}
}

// A JSON file named otherwise, or a file without an extension, is told
// by its content.
func TestFileKindByContent(t *testing.T) {
	for _, f := range []File{{Name: "bake", Data: []byte(appJSON)}, {Name: "bake", Data: []byte(appHCL)}} {
		if got := target(t, mustLoad(t, []File{f}, []string{"app"}, Options{}), "app"); !reflect.DeepEqual(got, wantApp()) {
			t.Errorf("%.10q: %+v", f.Data, got)
		}
	}
	f := File{Name: "bake", Data: []byte("services:\n  app:\n    build: .\n")}
	if def := mustLoad(t, []File{f}, nil, Options{}); def.Targets["app"] == nil {
		t.Errorf("compose without an extension: %v", def.Order)
	}
}

func TestFieldErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		want       string
	}{
		{"unknown field", "target \"app\" {\n  tags = []\n  colour = \"red\"\n}", 3, `An argument named "colour" is not expected here`},
		{"buildx field farm lacks", "target \"app\" {\n  cache-from = [\"type=gha\"]\n}", 2, `"cache-from" is a buildx field farm bake does not support`},
		{"unknown block", "target \"app\" {}\nservice \"x\" {}", 2, `unknown block type "service"`},
		{"block in a target", "target \"app\" {\n  args {\n  }\n}", 2, `Blocks of type "args" are not expected here`},
		{"tags not a list", "target \"app\" {\n  tags = \"a\"\n}", 2, "tags: must be a list of strings"},
		{"args not a map", "target \"app\" {\n  args = [\"a\"]\n}", 2, "args: must be a map of strings"},
		{"bool", "target \"app\" {\n  no-cache = \"often\"\n}", 2, "no-cache: must be true or false"},
		{"platform", "target \"app\" {\n  platforms = [\"linux/amd64\", \"linux/x\"]\n}", 2, `unknown architecture "x"`},
		{"secret without id", "target \"app\" {\n  secret = [\"src=a.txt\"]\n}", 2, "secret: give id=ID"},
		{"secret key", "target \"app\" {\n  secret = [\"id=a,file=a.txt\"]\n}", 2, `unknown key "file"`},
		{"output without type", "target \"app\" {\n  output = [\"dest=x\"]\n}", 2, "output: give type=TYPE"},
		{"bad name", "target \"a.b\" {}", 1, "a name may hold only"},
		{"syntax", "target \"app\" {\n  tags = [\n}", 3, "Invalid expression"},
		{"group without targets", "group \"g\" {\n}\ntarget \"app\" {}", 1, `The argument "targets" is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, files("docker-bake.hcl", tc.file), []string{"app"}, Options{}, "docker-bake.hcl", tc.line, tc.want)
		})
	}
	wantFail(t, files("docker-bake.json", "{\n  \"target\": {\n    \"app\": {\"tags\": [}\n  }\n}"), nil, Options{}, "docker-bake.json", 3, "")
	wantFail(t, files("docker-bake.json", "{\n  \"target\": {\n    \"app\": {\n      \"colour\": 1\n    }\n  }\n}"), []string{"app"}, Options{}, "docker-bake.json", 4, `"colour"`)
}

// --print's shape is buildx's: "${" escaped so that the output reads back
// as a JSON bake file, outputs as objects, the runner's fields left out.
func TestPrintShape(t *testing.T) {
	def := mustLoad(t, files("docker-bake.hcl", `target "app" {
  args = { A = "$${HOME}" }
  output = ["type=oci,dest=out,tar=false"]
  contexts = { base = "target:base" }
}
target "base" {}`), []string{"app"}, Options{})
	out, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"group":{"default":{"targets":["app"]}},"target":{"app":{"context":".","contexts":{"base":"target:base"},"dockerfile":"Dockerfile","args":{"A":"$${HOME}"},"output":[{"dest":"out","tar":"false","type":"oci"}]},"base":{"context":".","dockerfile":"Dockerfile","output":[{"type":"cacheonly"}]}}}`
	if string(out) != want {
		t.Errorf("print:\n got %s\nwant %s", out, want)
	}
	if !strings.Contains(def.Targets["app"].Args["A"], "${HOME}") {
		t.Errorf("the value itself is not escaped: %q", def.Targets["app"].Args["A"])
	}
	// And it reads back to the same definition.
	again := mustLoad(t, files("print.json", string(out)), []string{"app"}, Options{})
	if again.Targets["app"].Args["A"] != "${HOME}" {
		t.Errorf("read back: %+v", again.Targets["app"])
	}
}
