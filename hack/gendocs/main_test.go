package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every man page has an EXIT STATUS section (the table of
// docs/exit-codes.md) and a FILES section, before SEE ALSO.
func TestManPagesHaveExitStatusAndFiles(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir, "../../docs/exit-codes.md"); err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "man", "*.1"))
	if len(pages) < 10 {
		t.Fatalf("man pages: %v", pages)
	}
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		status, files, seeAlso := strings.Index(s, "\n.SH EXIT STATUS\n"), strings.Index(s, "\n.SH FILES\n"), strings.Index(s, "\n.SH SEE ALSO\n")
		if status < 0 || files < status || (seeAlso >= 0 && seeAlso < files) {
			t.Errorf("%s: EXIT STATUS at %d, FILES at %d, SEE ALSO at %d", filepath.Base(page), status, files, seeAlso)
			continue
		}
		for _, want := range []string{"\\fB130\\fP\ninterrupted", "\\fB3\\fP\ninfrastructure", "builds.db", "farm/store", "nodes.json", "podman\\-connections.json", "known_hosts"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s lacks %q", filepath.Base(page), want)
			}
		}
	}
}

func TestReadExitCodes(t *testing.T) {
	codes, err := readExitCodes("../../docs/exit-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, c := range codes {
		got = append(got, c.code)
	}
	if want := []int{0, 1, 2, 3, 4, 5, 130}; !slices.Equal(got, want) {
		t.Errorf("exit codes %v, want %v", got, want)
	}
	if _, err := readExitCodes("main.go"); err == nil {
		t.Error("a file without the table is an error")
	}
}

func TestTroffEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"`--format xml`": `\-\-format xml`,
		`.hidden`:        `\&.hidden`,
		`a\b`:            `a\eb`,
	} {
		if got := troff(in); got != want {
			t.Errorf("troff(%q) = %q, want %q", in, got, want)
		}
	}
}
