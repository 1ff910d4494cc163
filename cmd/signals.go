package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs farm with the process's arguments and returns its exit status.
// The first Ctrl-C (or SIGTERM) stops what runs, cleaning up on the nodes;
// a second one quits at once.
func Main() int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	defer startProfile()()
	return execute(NewRootCmd(), sigs, os.Stderr, os.Exit)
}

// execute runs root and returns the exit status, after printing its error.
// The first signal from sigs cancels the command's context and says so at
// once; the second says what may be left on the nodes and calls exit with
// 130 (exit does not return; tests end the goroutine instead).
func execute(root *cobra.Command, sigs <-chan os.Signal, stderr io.Writer, exit func(int)) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	con := &console{w: stderr}
	ctx = context.WithValue(ctx, consoleKey{}, con)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-sigs:
		case <-finished:
			return
		}
		con.println(stoppingNotice(con.building()))
		cancel()
		select {
		case <-sigs:
		case <-finished:
			return
		}
		con.last(quitNotice(con.building()))
		exit(exitInterrupted)
	}()
	if err := root.ExecuteContext(ctx); err != nil {
		for _, line := range ErrorLines(err) {
			con.println("Error: " + line)
		}
		return ExitCode(err)
	}
	return 0
}

// stoppingNotice is what the first Ctrl-C prints.
func stoppingNotice(nodes []string) string {
	if len(nodes) == 0 {
		return "interrupted: stopping (Ctrl-C again to quit now)"
	}
	return "interrupted: stopping the builds on " + strings.Join(nodes, ", ") + " and removing what they left there (Ctrl-C again to quit now)"
}

// quitNotice is what the second Ctrl-C prints: what the builds still
// being stopped may leave behind, and how to remove it.
func quitNotice(nodes []string) string {
	if len(nodes) == 0 {
		return "quit: nothing was building any more"
	}
	return fmt.Sprintf("quit without cleaning up: the interrupted builds may have left build containers and images on %s: "+
		"farm prune removes the images of the platforms that finished; find the rest with "+
		"podman ps -a --external and podman (or docker) images --filter dangling=true, and remove them by hand", strings.Join(nodes, ", "))
}
