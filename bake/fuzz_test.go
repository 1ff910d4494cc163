package bake

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/farmbuild/farm/errdefs"
)

// fuzzLoad loads one file of any content: it never panics, fails only
// with a one-line FileError, and a definition it returns is ordered with
// every dependency first and prints as JSON.
func fuzzLoad(t *testing.T, name string, data []byte) {
	def, err := Load([]File{{Name: name, Data: data}}, nil, Options{Dir: "/w", Env: map[string]string{"TAG": "1"}})
	if err != nil {
		var fe *errdefs.FileError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v is a %T, not a FileError", err, err)
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("error is not one line: %q", err)
		}
		return
	}
	if len(def.Order) != len(def.Targets) {
		t.Fatalf("order %v, targets %d", def.Order, len(def.Targets))
	}
	for i, n := range def.Order {
		for _, d := range def.Targets[n].Deps {
			if j := slices.Index(def.Order, d); j < 0 || j > i {
				t.Fatalf("%s comes before its dependency %s: %v", n, d, def.Order)
			}
		}
	}
	if _, err := json.Marshal(def); err != nil {
		t.Fatalf("print: %v", err)
	}
}

func FuzzParseHCL(f *testing.F) {
	for _, s := range []string{appHCL, setFile, "target \"a\" {\n  contexts = { b = \"target:b\" }\n}\ntarget \"b\" {}\ngroup \"default\" { targets = [\"a\"] }",
		"variable \"V\" { default = \"x\" }\ntarget \"default\" {\n  matrix = { i = [\"1\", \"2\"] }\n  name = \"t-${i}\"\n  tags = [\"${V}:${i}\"]\n}",
		"function \"f\" {\n  params = [x]\n  result = upper(x)\n}\ntarget \"default\" { args = { A = f(\"a\") } }", "target \"default\" {\n  tags = [\n}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "docker-bake.hcl", data) })
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{appJSON, `{"target": {"default": {"contexts": {"b": "target:b"}}, "b": {}}}`,
		`{"variable": {"V": {"default": "x"}}, "group": {"default": {"targets": ["t"]}}, "target": {"t": {"tags": ["${V}"]}}}`, `{"target": [}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "docker-bake.json", data) })
}

func FuzzParseCompose(f *testing.F) {
	for _, s := range []string{composeFile, "services:\n  a:\n    build: .\n", "services:\n  a: &a\n    build:\n      context: .\n  b:\n    <<: *a\n",
		"services:\n  a:\n    build:\n      args: [A=1, B]\n      additional_contexts: [b=service:b]\n  b:\n    build: b\n    image: ${TAG:-x}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "compose.yaml", data) })
}
