package bake

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// With no -f, every default file that exists is read, in buildx's order;
// with -f, the files named, in their order.
func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ReadFiles(dir, nil, nil); err == nil || !strings.Contains(err.Error(), "no bake file in "+dir) {
		t.Errorf("no files: %v", err)
	}
	// In an order unlike buildx's, to see that the order is buildx's.
	for _, n := range []string{"docker-bake.override.hcl", "docker-bake.hcl", "compose.override.yaml", "docker-compose.yml", "docker-bake.json", "compose.yaml", "other.hcl"} {
		write(n, n)
	}
	names := func(fs []File) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
			if string(f.Data) != f.Name && f.Name != "-" {
				t.Errorf("%s holds %q", f.Name, f.Data)
			}
		}
		return out
	}
	fs, err := ReadFiles(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"compose.yaml", "docker-compose.yml", "docker-bake.json", "docker-bake.hcl", "docker-bake.override.hcl"}
	if got := names(fs); !slices.Equal(got, want) {
		t.Errorf("default files %v, want %v", got, want)
	}
	write("sub/x.hcl", "sub/x.hcl")
	fs, err = ReadFiles(dir, []string{"other.hcl", "sub/x.hcl", "-"}, strings.NewReader("stdin"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(fs); !slices.Equal(got, []string{"other.hcl", "sub/x.hcl", "-"}) || string(fs[2].Data) != "stdin" {
		t.Errorf("named files %v", got)
	}
	for _, n := range []string{"missing.hcl", "sub"} {
		if _, err := ReadFiles(dir, []string{n}, nil); err == nil || !strings.HasPrefix(err.Error(), n+": ") {
			t.Errorf("-f %s: %v", n, err)
		}
	}
}
