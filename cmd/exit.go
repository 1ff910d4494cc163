package cmd

import (
	"context"
	"errors"

	"github.com/farmbuild/farm/farm"
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
		errors.Is(err, farm.ErrNotFound),
		errors.Is(err, farm.ErrExists),
		errors.Is(err, farm.ErrReadOnly),
		errors.Is(err, farm.ErrInvalidDestination),
		errors.Is(err, farm.ErrInvalidPlatform),
		errors.Is(err, farm.ErrUsage):
		return exitUsage
	case errors.Is(err, farm.ErrNodeDown), errors.Is(err, farm.ErrHostKey), errors.Is(err, farm.ErrNoConnections), errors.Is(err, farm.ErrNoCapableNode):
		// Before build errors: a platform that failed because its node
		// died and no other could take it is an infrastructure failure.
		return exitInfra
	case errors.As(err, new(*farm.BuildError)):
		return exitFailure
	case errors.Is(err, farm.ErrTestFailed):
		return exitTest
	case errors.Is(err, farm.ErrOutput):
		return exitOutput
	default:
		return exitFailure
	}
}
