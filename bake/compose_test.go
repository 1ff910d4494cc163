package bake

import (
	"maps"
	"reflect"
	"slices"
	"testing"
)

const composeFile = `
x-common: &common
  args:
    COMMON: "1"
services:
  db:
    image: postgres:16
  base:
    build: ./base
    image: reg.example/base:${TAG:-latest}
  web.app:
    image: reg.example/web:ignored
    build:
      <<: *common
      context: web
      dockerfile: Containerfile.web
      target: final
      platforms: [linux/amd64, linux/arm64]
      tags: ["reg.example/web:${TAG:-latest}", reg.example/web:stable]
      additional_contexts:
        base: service:base
        img: docker-image://alpine:3
      labels:
        - team=web
      no_cache: true
      pull: "${PULL:-false}"
      x-other-tool: ignored
  tool:
    build:
      context: .
      dockerfile_inline: |
        FROM alpine
      args:
        - FROM_ENV
        - MISSING
        - PLAIN=p
        - DOLLAR=$$x
`

// Each service with a build section is a target, named as the service
// (dots made underscores), with image: as its tag when build has no
// tags; all of them are the group "default".
func TestCompose(t *testing.T) {
	env := map[string]string{"TAG": "2.0", "FROM_ENV": "env"}
	def := mustLoad(t, files("compose.yaml", composeFile), nil, Options{Env: env})
	if got := slices.Sorted(maps.Keys(def.Targets)); !slices.Equal(got, []string{"base", "tool", "web_app"}) {
		t.Fatalf("targets %v", got)
	}
	if got := def.Groups["default"].Targets; !slices.Equal(got, []string{"base", "tool", "web_app"}) {
		t.Errorf("default group %v", got)
	}
	if base := def.Targets["base"]; base.Context != "./base" || !slices.Equal(base.Tags, []string{"reg.example/base:2.0"}) || base.Linked {
		t.Errorf("base: %+v", base)
	}
	web := def.Targets["web_app"]
	want := &Target{
		Name: "web_app", Context: "web", Dockerfile: "Containerfile.web", Stage: "final",
		Platforms: []string{"linux/amd64", "linux/arm64"}, Tags: []string{"reg.example/web:2.0", "reg.example/web:stable"},
		Args: map[string]string{"COMMON": "1"}, Labels: map[string]string{"team": "web"}, NoCache: true,
		Contexts:   map[string]string{"base": "target:base", "img": "docker-image://alpine:3"},
		ContextDir: "/work/web", ContainerfilePath: "/work/web/Containerfile.web", Deps: []string{"base"},
		NamedContexts: map[string]NamedContext{"base": {Kind: ContextTarget, Value: "base"}, "img": {Kind: ContextImage, Value: "alpine:3"}},
	}
	if !reflect.DeepEqual(web, want) {
		t.Errorf("web_app:\n got %+v\nwant %+v", web, want)
	}
	tool := def.Targets["tool"]
	if want := map[string]string{"FROM_ENV": "env", "PLAIN": "p", "DOLLAR": "$x"}; !maps.Equal(tool.Args, want) {
		t.Errorf("tool args %v, want %v", tool.Args, want)
	}
	if tool.DockerfileInline != "FROM alpine\n" || tool.ContainerfilePath != "" {
		t.Errorf("tool: %+v", tool)
	}
	if i, j := slices.Index(def.Order, "base"), slices.Index(def.Order, "web_app"); i > j {
		t.Errorf("order %v: base after web_app", def.Order)
	}
}

func TestComposeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		want       string
	}{
		{"syntax", "services:\n  app:\n    build: .\n   image: x\n", 4, "did not find expected key"},
		{"syntax on line 1", "services: a: b\n", 1, "mapping values are not allowed in this context"},
		{"tab", "services:\n  app:\n    build: .\n\t image: x\n", 4, "tab character"},
		{"unclosed list", "services:\n  app:\n    build:\n      platforms: [linux/amd64\n      tags: [x]\n", 4, ""},
		{"unknown build key", "services:\n  app:\n    build:\n      context: .\n      colour: red\n", 5, `service "app": unknown field build.colour`},
		{"unsupported build key", "services:\n  app:\n    build:\n      cache_from: [x]\n", 4, "build.cache_from is not supported by farm bake"},
		{"no services", "version: '3'\n", 1, "no services"},
		{"empty", "", 0, "empty compose file"},
		{"not a mapping", "- a\n", 1, "a compose file is a mapping with services"},
		{"required variable", "services:\n  app:\n    build: .\n    image: \"${REG:?set REG}\"\n", 4, "required variable REG is missing a value: set REG"},
		{"bad bool", "services:\n  app:\n    build:\n      pull: sometimes\n", 4, "build.pull: must be true or false"},
		{"bad name", "services:\n  \"a b\":\n    build: .\n", 2, "a name may hold only"},
		{"undefined service context", "services:\n  app:\n    build:\n      additional_contexts:\n        b: service:nope\n", 4, `no target "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFail(t, files("compose.yaml", tc.file), nil, Options{}, "compose.yaml", tc.line, tc.want)
		})
	}
}

// Files are merged as buildx merges them: compose files first, then the
// HCL and JSON files in order; a later definition of a target is laid
// over the earlier one, field by field.
func TestMergeFiles(t *testing.T) {
	fs := files(
		"docker-bake.hcl", `target "app" {
  tags = ["from-hcl:1"]
  args = { HCL = "1" }
}`,
		"compose.yaml", "services:\n  app:\n    build:\n      context: web\n      args: {COMPOSE: '1', HCL: '0'}\n    image: from-compose:1\n",
		"docker-bake.override.hcl", `target "app" {
  args = { OVERRIDE = "1" }
}
target "extra" {}
group "default" { targets = ["extra"] }`,
	)
	def := mustLoad(t, fs, nil, Options{})
	app := target(t, def, "app")
	if app.Context != "web" || !slices.Equal(app.Tags, []string{"from-hcl:1"}) {
		t.Errorf("app: %+v", app)
	}
	if want := map[string]string{"COMPOSE": "1", "HCL": "1", "OVERRIDE": "1"}; !maps.Equal(app.Args, want) {
		t.Errorf("args %v, want %v", app.Args, want)
	}
	if got := def.Groups["default"].Targets; !slices.Equal(got, []string{"app", "extra"}) {
		t.Errorf("the default groups of the files are merged: %v", got)
	}
}
