package cmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/farmbuild/farm/errdefs"
)

// The exit codes docs/exit-codes.md promises, one case per kind of error.
func TestExitCodes(t *testing.T) {
	platform := func(err error) error {
		return fmt.Errorf("building: %w", errors.Join(&errdefs.BuildError{Platform: "linux/arm64", Node: "n", Err: err}))
	}
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"success":              {nil, 0},
		"a failed step":        {platform(&errdefs.EngineError{Err: errors.New("exit status 1")}), exitFailure},
		"anything else":        {errors.New("disk full"), exitFailure},
		"bad flag":             {usageError{errors.New("unknown flag")}, exitUsage},
		"unknown farm":         {fmt.Errorf("farm x: %w", errdefs.ErrNotFound), exitUsage},
		"existing name":        {errdefs.ErrExists, exitUsage},
		"containers.conf":      {errdefs.ErrReadOnly, exitUsage},
		"bad URI":              {errdefs.ErrInvalidDestination, exitUsage},
		"bad platform":         {errdefs.ErrInvalidPlatform, exitUsage},
		"bad bake file":        {fmt.Errorf("reading: %w", &errdefs.FileError{File: "docker-bake.hcl", Line: 3, Problem: "x"}), exitUsage},
		"preflight":            {fmt.Errorf("%w: registry r needs a login", errdefs.ErrUsage), exitUsage},
		"node down":            {errdefs.ErrNodeDown, exitInfra},
		"platform's node died": {platform(fmt.Errorf("%w: gave up after 3 attempts", errdefs.ErrNodeDown)), exitInfra},
		"host key":             {&errdefs.HostKeyError{Host: "h"}, exitInfra},
		"no connections":       {errdefs.ErrNoConnections, exitInfra},
		"no capable node":      {errdefs.ErrNoCapableNode, exitInfra},
		"output":               {fmt.Errorf("%w: pushing: refused", errdefs.ErrOutput), exitOutput},
		"test":                 {fmt.Errorf("%w on linux/arm64", errdefs.ErrTestFailed), exitTest},
		"interrupted":          {platform(context.Canceled), exitInterrupted},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("%s: exit %d, want %d (%v)", name, got, tc.want, tc.err)
		}
	}
	// The codes themselves are the documented numbers.
	if exitFailure != 1 || exitUsage != 2 || exitInfra != 3 || exitOutput != 4 || exitTest != 5 || exitInterrupted != 130 {
		t.Error("an exit code changed its number: scripts depend on them (docs/exit-codes.md)")
	}
}

// A password in a connection URI (podman's files allow one) is never shown.
func TestPasswordsInURIsAreNotShown(t *testing.T) {
	dir := isolate(t)
	conf := `{"Connection":{"Default":"pw","Connections":{"pw":{"URI":"ssh://root:hunter2@127.0.0.1:1/run/podman/podman.sock"}}},"Farm":{}}`
	writeFile(t, filepath.Join(dir, "podman-connections.json"), conf)
	for _, args := range [][]string{{"connection", "list"}, {"connection", "list", "--format", "json"}, {"status", "--format", "json"}} {
		out, errOut, _ := farmCLI(t, args...)
		if strings.Contains(out+errOut, "hunter2") || !strings.Contains(out, "root:xxxxx@") {
			t.Errorf("farm %s shows the password:\n%s%s", strings.Join(args, " "), out, errOut)
		}
	}
}

func TestOneLineStripsEscapeSequences(t *testing.T) {
	err := errors.New("building linux/arm64 on n1: \x1b]0;owned\x07exit status 1\x1b[2J")
	if got := OneLine(err); strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, "exit status 1") {
		t.Errorf("OneLine = %q", got)
	}
}

func TestErrorLinesOnePerPlatform(t *testing.T) {
	err := fmt.Errorf("building: %w", errors.Join(
		&errdefs.BuildError{Platform: "linux/arm64", Node: "n1", Err: errors.New("exit status 7")},
		&errdefs.BuildError{Platform: "linux/amd64", Node: "n2", Err: errors.New("exit status 1\nsecond line")}))
	lines := ErrorLines(err)
	if len(lines) != 2 || !strings.Contains(lines[0], "linux/arm64") || !strings.Contains(lines[1], "linux/amd64") || strings.Contains(lines[1], "\n") {
		t.Errorf("one line per platform: %q", lines)
	}
	if got := ErrorLines(errors.New("plain")); len(got) != 1 || got[0] != "plain" {
		t.Errorf("a plain error is one line: %q", got)
	}
}
