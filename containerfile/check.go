package containerfile

import (
	"fmt"
	"regexp"
	"strings"
)

// SyntaxError is a Containerfile problem found on the client, before any
// node sees the file.
type SyntaxError struct {
	// Line is the 1-based line the problem is on (0 for the whole file).
	Line int
	// Problem says what is wrong and what to do.
	Problem string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return e.Problem
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Problem)
}

// instructions are the Containerfile instructions podman and docker know.
var instructions = map[string]bool{
	"FROM": true, "RUN": true, "CMD": true, "LABEL": true, "MAINTAINER": true, "EXPOSE": true, "ENV": true,
	"ADD": true, "COPY": true, "ENTRYPOINT": true, "VOLUME": true, "USER": true, "WORKDIR": true, "ARG": true,
	"ONBUILD": true, "STOPSIGNAL": true, "HEALTHCHECK": true, "SHELL": true,
}

// heredocStart matches the heredoc words (<<EOF, <<-"EOF") of a line.
var heredocStart = regexp.MustCompile(`<<(-?)["']?([A-Za-z_][A-Za-z0-9_]*)["']?`)

// escapeDirective matches the parser directive that changes the line
// continuation character.
var escapeDirective = regexp.MustCompile("(?i)^#\\s*escape\\s*=\\s*([\\\\`])\\s*$")

// directive matches any parser directive line (# syntax=..., # check=...).
var directive = regexp.MustCompile(`^#\s*[a-zA-Z]+\s*=`)

// Check finds what podman and docker would refuse in a Containerfile
// before any node is given it: an empty file, an unknown instruction, a
// first instruction other than FROM (or ARG before it), a FROM without an
// image. Continuation lines, comments, parser directives and heredocs are
// understood; anything finer is left to the engines.
func Check(data []byte) error {
	lines := strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n")
	escape := `\`
	seenFrom, seenAny, directives := false, false, true
	for i := 0; i < len(lines); i++ {
		start := i
		line := strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
		if strings.HasPrefix(line, "#") || line == "" {
			// Parser directives come first, before anything else.
			if m := escapeDirective.FindStringSubmatch(line); m != nil && directives {
				escape = m[1]
			} else if !directive.MatchString(line) {
				directives = false
			}
			continue
		}
		directives = false
		// Join continuation lines; comment lines inside are dropped.
		for strings.HasSuffix(line, escape) && i+1 < len(lines) {
			line = strings.TrimSuffix(line, escape)
			i++
			for i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "#") {
				i++
			}
			if i < len(lines) {
				line += " " + strings.TrimSpace(strings.TrimSuffix(lines[i], "\r"))
			}
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		word := strings.ToUpper(fields[0])
		rest := strings.TrimSpace(strings.TrimPrefix(line, fields[0]))
		if !instructions[word] {
			return &SyntaxError{Line: start + 1, Problem: fmt.Sprintf("unknown instruction %q: check its spelling", fields[0])}
		}
		if !seenFrom && word != "FROM" && word != "ARG" {
			return &SyntaxError{Line: start + 1, Problem: fmt.Sprintf("%s before any FROM: a Containerfile starts with FROM (ARG may come before it)", word)}
		}
		if word == "FROM" {
			seenFrom = true
			if rest == "" || strings.EqualFold(strings.Fields(rest)[0], "AS") {
				return &SyntaxError{Line: start + 1, Problem: "FROM needs an image: FROM image[:tag] [AS name]"}
			}
		}
		seenAny = true
		// Heredoc bodies (RUN <<EOF ... EOF) are not instructions.
		for _, m := range heredocStart.FindAllStringSubmatch(line, -1) {
			for i++; i < len(lines); i++ {
				body := lines[i]
				if m[1] == "-" {
					body = strings.TrimLeft(body, "\t")
				}
				if strings.TrimSuffix(body, "\r") == m[2] {
					break
				}
			}
		}
	}
	if !seenAny {
		return &SyntaxError{Problem: "it has no instructions: it needs at least a FROM line"}
	}
	if !seenFrom {
		return &SyntaxError{Problem: "it has no FROM line: add FROM image[:tag]"}
	}
	return nil
}
