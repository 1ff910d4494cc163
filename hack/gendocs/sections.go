package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	farmcmd "github.com/farmbuild/farm/cmd"
)

// exitCode is one row of docs/exit-codes.md's table.
type exitCode struct {
	code              int
	meaning, examples string
}

// readExitCodes reads the table of docs/exit-codes.md: the rows whose
// first cell is a number.
func readExitCodes(path string) ([]exitCode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the exit codes: %w", err)
	}
	defer f.Close()
	var out []exitCode
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 {
			continue
		}
		code, err := strconv.Atoi(strings.TrimSpace(cells[0]))
		if err != nil {
			continue
		}
		c := exitCode{code: code, meaning: strings.TrimSpace(cells[1])}
		if len(cells) > 2 {
			c.examples = strings.TrimSpace(cells[2])
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no table of exit codes", path)
	}
	return out, nil
}

// troff escapes Markdown-ish text for a man page: no backquotes, no
// backslash or leading dot taken as a request.
func troff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "`", "")
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// exitStatusSection is the EXIT STATUS section of every man page.
func exitStatusSection(codes []exitCode) string {
	var b strings.Builder
	b.WriteString(".SH EXIT STATUS\n")
	for _, c := range codes {
		fmt.Fprintf(&b, ".TP\n\\fB%d\\fP\n%s", c.code, troff(c.meaning))
		if c.examples != "" {
			fmt.Fprintf(&b, " (for example: %s)", troff(c.examples))
		}
		b.WriteString("\n")
	}
	b.WriteString(".PP\nEvery error is one line on standard error, starting with Error:.\n\n")
	return b.String()
}

// filesSection is the FILES section of every man page.
func filesSection(files []farmcmd.FileDoc) string {
	var b strings.Builder
	b.WriteString(".SH FILES\n")
	for _, f := range files {
		fmt.Fprintf(&b, ".TP\n\\fI%s\\fP", troff(f.Path))
		if f.Default != "" {
			fmt.Fprintf(&b, " (default \\fI%s\\fP)", troff(f.Default))
		}
		fmt.Fprintf(&b, "\n%s\n", troff(f.What))
	}
	b.WriteString("\n")
	return b.String()
}

// dashed is a command's path with dashes: farm-history-prune.
func dashed(cmd *cobra.Command) string { return strings.ReplaceAll(cmd.CommandPath(), " ", "-") }

// manPage renders cmd's man page with extra before SEE ALSO (at the end
// when there is none).
func manPage(cmd *cobra.Command, header *doc.GenManHeader, extra string) ([]byte, error) {
	var buf bytes.Buffer
	if err := doc.GenMan(cmd, header, &buf); err != nil {
		return nil, err
	}
	page := buf.Bytes()
	if i := bytes.Index(page, []byte("\n.SH SEE ALSO\n")); i >= 0 {
		return append(append(append([]byte{}, page[:i+1]...), extra...), page[i+1:]...), nil
	}
	return append(page, "\n"+extra...), nil
}
