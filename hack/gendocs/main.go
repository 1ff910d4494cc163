// Command gendocs writes farm's command reference (Markdown and man pages)
// from the command tree, so the docs cannot drift from the code. Every
// man page gains EXIT STATUS (from docs/exit-codes.md) and FILES (from
// cmd.Files) sections.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	farmcmd "github.com/farmbuild/farm/cmd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs DIR")
		os.Exit(2)
	}
	root, err := moduleRoot()
	if err == nil {
		err = generate(os.Args[1], filepath.Join(root, "docs", "exit-codes.md"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

// moduleRoot is the directory of go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above: run gendocs in farm's source tree")
		}
		dir = parent
	}
}

// generate writes the Markdown reference into dir and the man pages into
// dir/man; exitCodes is docs/exit-codes.md.
func generate(dir, exitCodes string) error {
	codes, err := readExitCodes(exitCodes)
	if err != nil {
		return err
	}
	root := farmcmd.NewRootCmd()
	root.DisableAutoGenTag = true
	// cobra adds `farm completion` when the command runs; add it now so the
	// reference documents it.
	root.InitDefaultCompletionCmd()
	man := filepath.Join(dir, "man")
	for _, d := range []string{dir, man} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return err
	}
	extra := exitStatusSection(codes) + filesSection(farmcmd.Files())
	return genManTree(root, &doc.GenManHeader{Title: "FARM", Section: "1", Source: "farm"}, man, extra)
}

// genManTree is doc.GenManTree with extra (troff) before each page's SEE
// ALSO section.
func genManTree(cmd *cobra.Command, header *doc.GenManHeader, dir, extra string) error {
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := genManTree(c, header, dir, extra); err != nil {
			return err
		}
	}
	h := *header
	page, err := manPage(cmd, &h, extra)
	if err != nil {
		return err
	}
	name := filepath.Join(dir, dashed(cmd)+"."+header.Section)
	return os.WriteFile(name, page, 0o644)
}
