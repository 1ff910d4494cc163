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
	farm   string
	format string
	// parallel bounds the nodes asked at once.
	parallel int
	timeout  time.Duration
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
	cmd.Flags().IntVar(&opts.parallel, "parallel", 100, "how many nodes to ask at once")
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
	so := farm.StatusOptions{Timeout: opts.timeout, Parallel: opts.parallel, Logger: ro.logger}
	var rows *statusRows
	if opts.format != "json" {
		// Rows come as the nodes answer: a slow or dead node holds up
		// only its own.
		rows = newStatusRows(cmd.OutOrStdout(), conns)
		so.OnNode = rows.row
	}
	nodes, statusErr := farm.Status(ctx, conns, ro.open, so)
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
	} else if err := rows.finish(cmd.ErrOrStderr(), nodes); err != nil {
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
