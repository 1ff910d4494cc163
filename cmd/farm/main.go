// Command farm turns podman and docker engines on machines of different CPU
// architectures into one multi-arch build farm.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := NewRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", oneLine(err))
		os.Exit(exitCode(err))
	}
}
