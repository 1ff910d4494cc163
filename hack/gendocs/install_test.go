package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make install puts the binary, the man pages (with the sections gendocs
// adds) and bash, zsh and fish completions under DESTDIR and PREFIX.
func TestMakeInstall(t *testing.T) {
	dest := t.TempDir()
	cmd := exec.Command("make", "-C", "../..", "install", "DESTDIR="+dest, "BIN="+filepath.Join(t.TempDir(), "farm"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	prefix := filepath.Join(dest, "usr", "local")
	for path, want := range map[string]string{
		"bin/farm":                                  "",
		"share/man/man1/farm.1":                     ".SH EXIT STATUS",
		"share/man/man1/farm-build.1":               ".SH FILES",
		"share/man/man1/farm-history.1":             "farm history",
		"share/bash-completion/completions/farm":    "__start_farm",
		"share/zsh/site-functions/_farm":            "#compdef farm",
		"share/fish/vendor_completions.d/farm.fish": "complete -c farm",
	} {
		data, err := os.ReadFile(filepath.Join(prefix, path))
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %q", path, want)
		}
	}
	if st, err := os.Stat(filepath.Join(prefix, "bin", "farm")); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Errorf("the binary is not executable: %v", err)
	}
	if out, err := exec.Command(filepath.Join(prefix, "bin", "farm"), "--version").CombinedOutput(); err != nil || !strings.Contains(string(out), "farm version") {
		t.Errorf("installed farm --version: %v\n%s", err, out)
	}
}
