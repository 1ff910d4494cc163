package cmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/transport"
)

func newConnectionCmd(ro *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connection",
		Aliases: []string{"connections", "conn"},
		Short:   "Manage the connections to engines (shared with podman system connection)",
		Args:    exactArgs(0),
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newConnectionAddCmd(ro), newConnectionListCmd(ro), newConnectionRemoveCmd(ro), newConnectionRenameCmd(ro), newConnectionUpdateCmd(ro))
	return cmd
}

type connectionAddOptions struct {
	name, destination, identity string
	makeDefault                 bool
	weight                      float64
	timeout                     time.Duration
}

func newConnectionAddCmd(ro *rootOptions) *cobra.Command {
	opts := &connectionAddOptions{}
	cmd := &cobra.Command{
		Use:   "add NAME DESTINATION",
		Short: "Add a connection: DESTINATION is ssh://[user@]host[:port][/socket-path] or unix:///path",
		Long: `Add a connection to an engine. DESTINATION is ssh://[user@]host[:port][/socket-path]
or unix:///path/to/socket; user@host alone means ssh. Without a socket path
farm logs in and asks the host for its podman (else docker) socket, checking
the host key strictly against known_hosts.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.name, opts.destination = args[0], args[1]
			return runConnectionAdd(cmd.Context(), ro, opts, cmd)
		},
	}
	cmd.Flags().StringVar(&opts.identity, "identity", "", "SSH private key file for this connection")
	cmd.Flags().BoolVarP(&opts.makeDefault, "default", "d", false, "make this the default connection")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 20*time.Second, "how long to wait for the host when the socket must be discovered")
	cmd.Flags().Float64Var(&opts.weight, "weight", 0, "relative speed of this node for scheduling (default 1; 2 means twice as fast)")
	return cmd
}

func runConnectionAdd(ctx context.Context, ro *rootOptions, opts *connectionAddOptions, cmd *cobra.Command) error {
	uri := opts.destination
	if !strings.Contains(uri, "://") {
		uri = "ssh://" + uri
	}
	dest, err := transport.ParseDestination(uri)
	if err != nil {
		return err
	}
	c := config.Connection{Name: opts.name, URI: dest.String()}
	if opts.identity != "" {
		if c.Identity, err = filepath.Abs(opts.identity); err != nil {
			return err
		}
	}
	if dest.Scheme == "ssh" && dest.Socket == "" {
		ctx, cancel := context.WithTimeout(ctx, opts.timeout)
		defer cancel()
		conn, err := transport.Connect(ctx, c.Name, c.URI, c.Identity)
		if err != nil {
			if !errors.Is(err, errdefs.ErrHostKey) && !errors.Is(err, errdefs.ErrUsage) {
				err = fmt.Errorf("%w: %w", errdefs.ErrNodeDown, err)
			}
			return fmt.Errorf("finding the engine socket of %s: %w", c.URI, err)
		}
		c.URI = conn.Dest.String()
		// podman reports its socket's path whether or not anything serves
		// it (podman.socket not started): say so now, not at the first
		// build.
		if engine, err := conn.DialEngine(ctx); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: nothing answers on %s on %s yet: start the engine's socket there (for podman: systemctl --user enable --now podman.socket, or as root: systemctl enable --now podman.socket)\n", conn.Dest.Socket, dest.Host)
		} else {
			engine.Close()
		}
		conn.Close()
		ro.logger.Info("discovered engine socket", "connection", c.Name, "uri", c.URI)
	}
	if opts.weight < 0 {
		return usageError{fmt.Errorf("--weight %v: must be positive", opts.weight)}
	}
	if err := ro.store.AddConnection(c, opts.makeDefault); err != nil {
		return err
	}
	if opts.weight > 0 {
		if err := ro.store.SetWeight(c.Name, opts.weight); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Connection %q added: %s\n", c.Name, c.URI)
	return nil
}

type listOptions struct{ format string }

func newConnectionListCmd(ro *rootOptions) *cobra.Command {
	opts := &listOptions{}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List connections",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConnectionList(ro, opts, cmd)
		},
	}
	cmd.Flags().StringVar(&opts.format, "format", "table", "output format: table or json")
	return cmd
}

func runConnectionList(ro *rootOptions, opts *listOptions, cmd *cobra.Command) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	conns, err := ro.store.Connections()
	if err != nil {
		return err
	}
	weights, err := ro.store.Weights()
	if err != nil {
		return err
	}
	type listed struct {
		config.Connection
		Weight float64 `json:"Weight,omitempty"`
	}
	out := make([]listed, len(conns))
	for i, c := range conns {
		c.URI = transport.Redact(c.URI) // podman's files may hold a password
		out[i] = listed{c, weights[c.Name]}
	}
	if opts.format == "json" {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	t := newTable(cmd.OutOrStdout(), "NAME", "URI", "IDENTITY", "DEFAULT", "READWRITE", "WEIGHT")
	for _, c := range out {
		w := "1"
		if c.Weight > 0 {
			w = fmt.Sprint(c.Weight)
		}
		t.row(c.Name, c.URI, c.Identity, c.Default, c.ReadWrite, w)
	}
	return t.flush()
}

func newConnectionRemoveCmd(ro *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove a connection (and take it out of every farm)",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.store.RemoveConnection(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Connection %q removed\n", args[0])
			return nil
		},
	}
}

func newConnectionRenameCmd(ro *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "rename OLD NEW",
		Aliases: []string{"mv"},
		Short:   "Rename a connection (in every farm too)",
		Args:    exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.store.RenameConnection(args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Connection %q renamed to %q\n", args[0], args[1])
			return nil
		},
	}
}

type connectionUpdateOptions struct{ weight float64 }

func newConnectionUpdateCmd(ro *rootOptions) *cobra.Command {
	opts := &connectionUpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update NAME --weight N",
		Short: "Change farm's settings for a connection (its scheduling weight)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("weight") {
				return usageError{fmt.Errorf("nothing to update: give --weight")}
			}
			if err := ro.store.SetWeight(args[0], opts.weight); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Connection %q updated\n", args[0])
			return nil
		},
	}
	cmd.Flags().Float64Var(&opts.weight, "weight", 1, "relative speed of this node for scheduling (1 is the default; 0 resets)")
	return cmd
}
