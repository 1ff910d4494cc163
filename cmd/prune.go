package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/farm"
)

type pruneOptions struct {
	farm, format string
	all, dryRun  bool
}

func newPruneCmd(ro *rootOptions) *cobra.Command {
	opts := &pruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune [--farm F] [--all] [--dry-run]",
		Short: "Remove from the nodes the images farm built there",
		Long: `Remove from every node of the farm the images farm built there, as its
build records list them: never anything farm did not create, and never the
images of the newest pushed build (unless --all) or of a build still
running. Reports the space freed per node.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPrune(cmd.Context(), ro, opts, cmd)
		},
	}
	cmd.Flags().StringVar(&opts.farm, "farm", "", "farm to prune (default: the default farm, else every connection)")
	cmd.Flags().BoolVarP(&opts.all, "all", "a", false, "also remove the images of the newest pushed build")
	cmd.Flags().BoolVar(&opts.dryRun, "dry-run", false, "list what would be removed")
	cmd.Flags().StringVar(&opts.format, "format", "table", "output format: table or json")
	return cmd
}

func runPrune(ctx context.Context, ro *rootOptions, opts *pruneOptions, cmd *cobra.Command) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	_, conns, err := ro.store.FarmConnections(opts.farm)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		return fmt.Errorf("%w: add one with farm connection add NAME ssh://user@host", errdefs.ErrNoConnections)
	}
	po := farm.PruneOptions{DryRun: opts.dryRun, Logger: ro.logger}
	rec, err := openRecords(ro)
	if err != nil {
		return fmt.Errorf("reading the build records, needed to know what to keep: %w", err)
	}
	po.Built, po.Keep, err = rec.PruneSets(opts.all)
	rec.Close()
	if err != nil {
		return err
	}
	res, pruneErr := farm.Prune(ctx, conns, ro.open, po)
	if opts.format == "json" {
		if err := writeJSON(cmd.OutOrStdout(), res); err != nil {
			return err
		}
	} else {
		verb := "REMOVED"
		if opts.dryRun {
			verb = "WOULD REMOVE"
		}
		t := newTable(cmd.OutOrStdout(), "NODE", verb, "KEPT", "FREED", "ERROR")
		for _, p := range res {
			t.row(p.Node, len(p.Removed), p.Kept, humanBytes(p.FreedBytes), orDash(p.Error))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if pruneErr != nil {
		return fmt.Errorf("pruning: %w", pruneErr)
	}
	return nil
}
