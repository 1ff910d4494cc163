package bake

import (
	"errors"
	"strings"
	"testing"

	"github.com/farmbuild/farm/errdefs"
)

// files makes Files from name, content pairs.
func files(nameContent ...string) []File {
	var out []File
	for i := 0; i+1 < len(nameContent); i += 2 {
		out = append(out, File{Name: nameContent[i], Data: []byte(nameContent[i+1])})
	}
	return out
}

// mustLoad loads fs and fails the test on an error.
func mustLoad(t *testing.T, fs []File, names []string, opts Options) *Definition {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = "/work"
	}
	def, err := Load(fs, names, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return def
}

// loadHCL loads one docker-bake.hcl.
func loadHCL(t *testing.T, hcl string, names ...string) *Definition {
	t.Helper()
	return mustLoad(t, files("docker-bake.hcl", hcl), names, Options{})
}

// mustFail loads fs, expects a *errdefs.FileError of one line, and
// returns it.
func mustFail(t *testing.T, fs []File, names []string, opts Options) *errdefs.FileError {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = "/work"
	}
	def, err := Load(fs, names, opts)
	if err == nil {
		t.Fatalf("Load succeeded, want an error: %+v", def)
	}
	var fe *errdefs.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a FileError", err, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	return fe
}

// wantFail expects loading fs to fail at file:line with a message
// containing want.
func wantFail(t *testing.T, fs []File, names []string, opts Options, file string, line int, want string) {
	t.Helper()
	fe := mustFail(t, fs, names, opts)
	if fe.File != file || fe.Line != line || !strings.Contains(fe.Problem, want) {
		t.Errorf("error %q: want %s:%d: ...%s...", fe, file, line, want)
	}
}

// target returns a target of def, failing the test when it is missing.
func target(t *testing.T, def *Definition, name string) *Target {
	t.Helper()
	tg, ok := def.Targets[name]
	if !ok {
		t.Fatalf("no target %q in %v", name, def.Order)
	}
	return tg
}
