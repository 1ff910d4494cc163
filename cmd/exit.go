package cmd

import (
	"context"
	"errors"

	"github.com/farmbuild/farm/errdefs"
)

// Exit codes. They are documented in docs/exit-codes.md; scripts rely on them.
const (
	// exitFailure is a failed build (a platform's build failed), or any
	// failure not listed below.
	exitFailure = 1
	// exitUsage means bad usage: unknown flag, wrong arguments, invalid
	// input, or a named connection or farm that does not exist.
	exitUsage = 2
	// exitInfra means infrastructure failure: a node unreachable, a host
	// key refused, no node able to serve the request.
	exitInfra = 3
	// exitOutput means every platform built but storing or pushing the
	// result failed; nothing was tagged.
	exitOutput = 4
	// exitTest means every platform built but a --test failed; nothing
	// was stored or pushed.
	exitTest = 5
	// exitInterrupted means the user stopped farm (Ctrl-C or SIGTERM);
	// the remote builds were stopped and their leftovers removed.
	exitInterrupted = 130
)

// usageError marks an error as the user's to fix on the command line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// ExitCode maps an error to the process exit status.
func ExitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &u),
		errors.As(err, new(*errdefs.FileError)),
		errors.Is(err, errdefs.ErrNotFound),
		errors.Is(err, errdefs.ErrExists),
		errors.Is(err, errdefs.ErrReadOnly),
		errors.Is(err, errdefs.ErrInvalidDestination),
		errors.Is(err, errdefs.ErrInvalidPlatform),
		errors.Is(err, errdefs.ErrUsage):
		return exitUsage
	case errors.Is(err, errdefs.ErrNodeDown), errors.Is(err, errdefs.ErrHostKey), errors.Is(err, errdefs.ErrNoConnections), errors.Is(err, errdefs.ErrNoCapableNode):
		// Before build errors: a platform that failed because its node
		// died and no other could take it is an infrastructure failure.
		return exitInfra
	case errors.As(err, new(*errdefs.BuildError)):
		return exitFailure
	case errors.Is(err, errdefs.ErrTestFailed):
		return exitTest
	case errors.Is(err, errdefs.ErrOutput):
		return exitOutput
	default:
		return exitFailure
	}
}

// ErrorLines renders an error as lines for the terminal: one per joined
// error (one per failed platform: each says its platform and node), each
// folded onto one line.
func ErrorLines(err error) []string {
	var joined interface{ Unwrap() []error }
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			joined = j
			break
		}
	}
	if joined == nil || len(joined.Unwrap()) < 2 {
		return []string{OneLine(err)}
	}
	var lines []string
	for _, e := range joined.Unwrap() {
		lines = append(lines, ErrorLines(e)...)
	}
	return lines
}
