// Command gendocs writes farm's command reference (Markdown and man pages)
// from the command tree, so the docs cannot drift from the code.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra/doc"

	farmcmd "github.com/farmbuild/farm/cmd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendocs DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	root := farmcmd.NewRootCmd()
	root.DisableAutoGenTag = true
	// cobra adds `farm completion` when the command runs; add it now so the
	// reference documents it.
	root.InitDefaultCompletionCmd()
	man := filepath.Join(dir, "man")
	for _, d := range []string{dir, man} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	if err := doc.GenManTree(root, &doc.GenManHeader{Title: "FARM", Section: "1", Source: "farm"}, man); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
