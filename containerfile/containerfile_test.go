package containerfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistries(t *testing.T) {
	cf := []byte(`ARG BASE=quay.io/org/base:1
ARG OTHER
FROM --platform=$BUILDPLATFORM ${BASE} AS build
RUN make
FROM build AS test
FROM registry.example:5000/team/runtime@sha256:0000000000000000000000000000000000000000000000000000000000000000
FROM alpine:3
FROM docker.io/library/busybox
FROM scratch
FROM $OTHER/app
FROM localhost/base
`)
	got := Parse(cf, map[string]string{"OTHER": "ghcr.io/me"}).Registries()
	if strings.Join(got, ",") != "docker.io,ghcr.io,localhost,quay.io,registry.example:5000" {
		t.Errorf("Registries = %v", got)
	}
	got = Parse(cf, map[string]string{"BASE": "base", "OTHER": "x"}).Registries()
	if strings.Join(got, ",") != "docker.io,localhost,registry.example:5000" {
		t.Errorf("with build args = %v", got)
	}
}

func TestWithImagesRewritesOnlyImages(t *testing.T) {
	f := Parse([]byte("ARG V=1\nFROM --platform=$BUILDPLATFORM quay.io/a/b:$V AS build\nRUN echo FROM x\nFROM build\nFROM scratch\nFROM docker.io/library/c\n"), nil)
	if len(f.Froms) != 2 || f.Froms[0].Image != "quay.io/a/b:1" || f.Froms[1].Image != "docker.io/library/c" {
		t.Fatalf("Froms = %+v", f.Froms)
	}
	got := string(f.WithImages([]string{"quay.io/a/b@sha256:1", ""}))
	want := "ARG V=1\nFROM --platform=$BUILDPLATFORM quay.io/a/b@sha256:1 AS build\nRUN echo FROM x\nFROM build\nFROM scratch\nFROM docker.io/library/c\n"
	if got != want {
		t.Errorf("WithImages =\n%s\nwant\n%s", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("FROM a\nARG X=y\nFROM $X AS s\nFROM s\n"), "X", "z")
	f.Fuzz(func(t *testing.T, data []byte, k, v string) {
		file := Parse(data, map[string]string{k: v})
		images := make([]string, len(file.Froms))
		for i := range images {
			images[i] = "img"
		}
		out := file.WithImages(images)
		before, after := strings.Split(string(data), "\n"), strings.Split(string(out), "\n")
		if len(before) != len(after) {
			t.Fatalf("the rewrite changed the number of lines: %d, %d", len(before), len(after))
		}
		changed := 0
		for i := range before {
			if before[i] != after[i] {
				changed++
			}
		}
		if changed > len(file.Froms) {
			t.Errorf("%d lines changed for %d FROM images", changed, len(file.Froms))
		}
		if again := Parse(out, map[string]string{k: v}); len(file.Froms) == 0 && len(again.Froms) != 0 {
			t.Errorf("a rewrite without FROM images made some")
		}
	})
}

func TestExcludesPrefersTheContainerfilesOwnIgnoreFile(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "app.Containerfile")
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := Excludes(dir, cf); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no ignore file: %v, %v (want an empty, non-nil list)", got, err)
	}
	write(".dockerignore", "# comment\n.env\n")
	if got, _ := Excludes(dir, cf); strings.Join(got, ",") != ".env" {
		t.Errorf(".dockerignore: %v", got)
	}
	write(".containerignore", "secrets/\n")
	if got, _ := Excludes(dir, cf); strings.Join(got, ",") != "secrets/" {
		t.Errorf(".containerignore wins over .dockerignore: %v", got)
	}
	write("app.Containerfile.dockerignore", "!keep\n*.log\n")
	if got, _ := Excludes(dir, cf); strings.Join(got, ",") != "!keep,*.log" {
		t.Errorf("<Containerfile>.dockerignore wins: %v", got)
	}
}

func TestWritableMounts(t *testing.T) {
	for cf, want := range map[string]bool{
		"FROM a\nRUN --mount=type=bind,target=/c,rw make\n":           true,
		"FROM a\nRUN --mount=type=bind,readwrite,target=/c true\n":    true,
		"FROM a\nRUN --mount=type=bind,target=/c,ro=false true\n":     true,
		"FROM a\nRUN --mount=type=bind,target=/c true\n":              false,
		"FROM a\nRUN --mount=type=cache,target=/root/.cache true\n":   false,
		"FROM a\nRUN echo rw --mount\n":                               false,
		"FROM a\nRUN --mount=type=bind,target=/c \\\n  make rw\n":     false,
		"FROM a\nARG M=ro\nRUN --mount=type=bind,target=/c,$M true\n": true,
		"FROM a\nRUN --mount=type=bind,target=/c,${M} true\n":         true,
	} {
		if got := WritableMounts([]byte(cf)); got != want {
			t.Errorf("WritableMounts(%q) = %v, want %v", cf, got, want)
		}
	}
}

func FuzzWritableMounts(f *testing.F) {
	f.Add([]byte("FROM a\nRUN --mount=type=bind,rw true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Adding a read-write mount is always seen.
		if !WritableMounts(append(data, []byte("\nRUN --mount=type=bind,rw true\n")...)) {
			t.Fatalf("a read-write mount after %q was not seen", data)
		}
	})
}
