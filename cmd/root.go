package cmd

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/builders"
	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/logline"
)

// version is set at build time with -ldflags "-X github.com/farmbuild/farm/cmd.version=...".
var version = "dev"

// rootOptions are the options every command shares.
type rootOptions struct {
	logLevel string
	logger   *slog.Logger
	console  *console
	store    config.Store
	open     engine.Opener
}

// NewRootCmd returns the farm command tree.
func NewRootCmd() *cobra.Command { return newRootCmd(builders.Open) }

// newRootCmd returns the command tree with open as the way to nodes'
// engines: tests give it a fake.
func newRootCmd(open engine.Opener) *cobra.Command {
	ro := &rootOptions{open: open}
	root := &cobra.Command{
		Use:   "farm",
		Short: "Build multi-arch container images on a farm of podman and docker engines",
		Long: `farm sends a build to podman and docker engines on machines of different CPU
architectures over SSH, builds every platform natively where it can, and
assembles one multi-arch manifest list. Connections and farms are shared with
podman's own configuration files.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			ro.console = consoleFrom(cmd.Context(), cmd.ErrOrStderr())
			logger, err := newLogger(ro.console, ro.logLevel)
			if err != nil {
				return err
			}
			ro.logger = logger
			return nil
		},
	}
	root.SetFlagErrorFunc(suggestFlag)
	root.PersistentFlags().StringVar(&ro.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.AddCommand(
		newConnectionCmd(ro),
		newCreateCmd(ro),
		newListCmd(ro),
		newUpdateCmd(ro),
		newRemoveCmd(ro),
		newStatusCmd(ro),
		newBuildCmd(ro),
		newBakeCmd(ro),
		newHistoryCmd(ro),
		newLogsCmd(ro),
		newInspectCmd(ro),
		newPruneCmd(ro),
	)
	registerCompletions(root, ro)
	return root
}

// newLogger returns the CLI's logger: one human line per record on w
// (see lineHandler), from level up.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", level)}
	}
	return slog.New(&lineHandler{w: w, level: l, mu: &sync.Mutex{}}), nil
}

// exactArgs is cobra.ExactArgs with a usage error that names the command's use line.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %d argument(s), got %d: usage: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())}
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs with a usage error.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError{fmt.Errorf("%s takes at most %d argument(s), got %d: usage: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())}
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with a usage error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{fmt.Errorf("%s needs at least %d argument(s): usage: %s", cmd.CommandPath(), n, cmd.UseLine())}
		}
		return nil
	}
}

// OneLine folds an error message onto one line.
func OneLine(err error) string {
	// An error can carry a node's text: no escape sequence reaches the
	// terminal.
	return logline.Sanitize(strings.Join(strings.Fields(err.Error()), " "))
}
