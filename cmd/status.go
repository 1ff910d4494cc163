package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/farm"
)

type statusOptions struct {
	farm    string
	format  string
	timeout time.Duration
}

func newStatusCmd(ro *rootOptions) *cobra.Command {
	opts := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what every node of a farm can build",
		Long: `Ask every node of the farm (the default farm, else every connection) for its
engine, version, native and emulated platforms, CPUs, memory and free space,
in parallel. Exits with status 3 if any node is down; the others are still
shown.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), ro, opts, cmd)
		},
	}
	cmd.Flags().StringVar(&opts.farm, "farm", "", "farm to show (default: the default farm, else every connection)")
	cmd.Flags().StringVar(&opts.format, "format", "table", "output format: table or json")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 20*time.Second, "how long to wait for each node")
	return cmd
}

func runStatus(ctx context.Context, ro *rootOptions, opts *statusOptions, cmd *cobra.Command) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	name, conns, err := ro.store.FarmConnections(opts.farm)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		if name != "" {
			return fmt.Errorf("farm %q has no connections: add some with farm update %s --add NAME: %w", name, name, errdefs.ErrNoConnections)
		}
		return fmt.Errorf("%w: add one with farm connection add NAME ssh://user@host", errdefs.ErrNoConnections)
	}
	nodes, statusErr := farm.Status(ctx, conns, ro.open, farm.StatusOptions{Timeout: opts.timeout, Logger: ro.logger})
	uris := map[string]string{}
	for _, c := range conns {
		uris[c.Name] = c.URI
	}
	saveNodeFacts(ro, statusFacts(nodes, uris, time.Now()))
	if opts.format == "json" {
		if err := writeJSON(cmd.OutOrStdout(), struct {
			Farm  string            `json:"farm"`
			Nodes []farm.NodeStatus `json:"nodes"`
		}{name, nodes}); err != nil {
			return err
		}
	} else if err := writeStatusTable(cmd, nodes); err != nil {
		return err
	}
	if statusErr != nil {
		var down []string
		for _, n := range nodes {
			if !n.Reachable {
				down = append(down, n.Name)
			}
		}
		return fmt.Errorf("%d of %d nodes down (%s): %w", len(down), len(nodes), strings.Join(down, ", "), errdefs.ErrNodeDown)
	}
	return nil
}

func writeStatusTable(cmd *cobra.Command, nodes []farm.NodeStatus) error {
	t := newTable(cmd.OutOrStdout(), "NODE", "STATUS", "ENGINE", "NATIVE", "EMULATED", "CPUS", "MEMORY", "FREE")
	for _, n := range nodes {
		if !n.Reachable {
			t.row(n.Name, "down", "-", "-", "-", "-", "-", "-")
			continue
		}
		// Written as NATIVE is, and as --platforms takes them.
		emulated := strings.Join(n.Emulated, ",")
		if emulated == "" {
			emulated = "-"
		}
		native := strings.Join(append([]string{n.Native}, n.Compatible...), ",")
		t.row(n.Name, "ok", n.Kind+" "+n.Version, native, emulated, n.CPUs, humanBytes(n.MemoryBytes), humanBytes(n.FreeBytes))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, n := range nodes {
		if !n.Reachable {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", n.Name, strings.Join(strings.Fields(n.Error), " "))
		}
	}
	return nil
}
