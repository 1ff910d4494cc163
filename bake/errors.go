package bake

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"go.yaml.in/yaml/v3"

	"github.com/farmbuild/farm/errdefs"
)

// src is where something was written: a file and line, or a --set value
// (file "", line 0).
type src struct {
	file string
	line int
}

// errorf returns a problem at s as one line.
func (s src) errorf(format string, args ...any) error {
	return &errdefs.FileError{File: s.file, Line: s.line, Problem: oneLine(fmt.Sprintf(format, args...))}
}

// srcOf is where an HCL range starts.
func srcOf(r hcl.Range) src { return src{file: r.Filename, line: r.Start.Line} }

// diagError turns HCL diagnostics into one error: the first error's
// place, summary and detail on one line.
func diagError(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		var at src
		if d.Subject != nil {
			at = srcOf(*d.Subject)
		}
		msg := d.Summary
		if d.Detail != "" {
			msg = strings.TrimSuffix(msg, ".") + ": " + d.Detail
		}
		return at.errorf("%s", msg)
	}
	return nil
}

// oneLine folds a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// yamlLine finds the line in a YAML parser's error ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlError places a YAML parser's error in file. The parser names the
// line where the enclosing mapping starts, or none, so the line is found
// again: the first line at which the file, cut there, no longer parses.
func yamlError(file string, data []byte, err error) error {
	m := yamlLine.FindStringSubmatch(oneLine(err.Error()))
	if m == nil {
		return src{file: file}.errorf("%v", err)
	}
	line, _ := strconv.Atoi(m[1])
	lines := strings.SplitAfter(string(data), "\n")
	fails := func(n int) bool {
		var node yaml.Node
		return yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &node) != nil
	}
	// Binary search for the shortest failing prefix (the whole file fails).
	lo, hi := 1, len(lines)
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if fails(lo) && lo > line {
		line = lo
	}
	return src{file: file, line: line}.errorf("%s", m[2])
}
