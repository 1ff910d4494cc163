// Command farm turns podman and docker engines on machines of different CPU
// architectures into one multi-arch build farm.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/farmbuild/farm/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd.NewRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		for _, line := range cmd.ErrorLines(err) {
			fmt.Fprintln(os.Stderr, "Error:", line)
		}
		os.Exit(cmd.ExitCode(err))
	}
}
