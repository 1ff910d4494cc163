package cmd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/manifest"
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
running. Empties each node's context cache (the files earlier builds sent,
kept for the SSH user). Reports the space freed per node.`,
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
	store := pruneStore(opts.dryRun)
	if opts.format == "json" {
		if err := writeJSON(cmd.OutOrStdout(), struct {
			Nodes []farm.NodePrune `json:"nodes"`
			Store storeReport      `json:"store"`
		}{res, store}); err != nil {
			return err
		}
	} else {
		verb := "REMOVED"
		if opts.dryRun {
			verb = "WOULD REMOVE"
		}
		t := newTable(cmd.OutOrStdout(), "NODE", verb, "KEPT", "FREED", "CONTEXT CACHE", "ERROR")
		for _, p := range res {
			cache, errText := contextCacheCell(p, opts.dryRun)
			t.row(p.Node, len(p.Removed), p.Kept, humanBytes(p.FreedBytes), cache, orDash(errText))
		}
		if err := t.flush(); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), store.line(opts.dryRun))
	}
	if pruneErr != nil {
		return fmt.Errorf("pruning: %w", pruneErr)
	}
	return nil
}

// contextCacheCell is what the table says of a node's context cache:
// what was freed (with dryRun, what would be), and the row's errors.
func contextCacheCell(p farm.NodePrune, dryRun bool) (string, string) {
	c, errText := p.ContextCache, p.Error
	switch {
	case c == nil:
		return "-", errText
	case c.Error != "":
		if errText != "" {
			errText += "; "
		}
		return "-", errText + "context cache: " + c.Error
	case dryRun:
		return fmt.Sprintf("%s in %d files", humanBytes(c.Bytes), c.Blobs), errText
	}
	return humanBytes(c.FreedBytes), errText
}

// storeReport is what farm prune did, or would do, to the client's blob
// store.
type storeReport struct {
	Dir        string `json:"dir"`
	Bytes      int64  `json:"bytes"`
	Blobs      int    `json:"blobs"`
	FreedBytes int64  `json:"freedBytes"`
	// Busy says a running build used the store, so it was left as it is.
	Busy  bool   `json:"busy,omitempty"`
	Error string `json:"error,omitempty"`
}

// pruneStore empties the client's blob store (layers come back through
// it; the next build sends again only what the store lacks), unless a
// running build uses it; with dryRun it only measures it.
func pruneStore(dryRun bool) storeReport {
	cache, err := cacheDir()
	if err != nil {
		return storeReport{Error: err.Error()}
	}
	r := storeReport{Dir: filepath.Join(cache, "store")}
	u, err := manifest.StoreSize(r.Dir)
	if err == nil && !dryRun {
		u, err = manifest.PruneStore(r.Dir, 0)
	}
	r.Bytes, r.Blobs, r.FreedBytes = u.Bytes, u.Blobs, u.Freed
	switch {
	case errors.Is(err, manifest.ErrStoreBusy):
		r.Busy = true
	case err != nil:
		r.Error = err.Error()
	}
	return r
}

func (r storeReport) line(dryRun bool) string {
	switch {
	case r.Error != "":
		return "client store: " + r.Error
	case r.Busy:
		return fmt.Sprintf("client store %s: %s in %d blobs, left as it is: a running build uses it", r.Dir, humanBytes(r.Bytes), r.Blobs)
	case dryRun:
		return fmt.Sprintf("client store %s: %s in %d blobs, would be freed", r.Dir, humanBytes(r.Bytes), r.Blobs)
	}
	return fmt.Sprintf("client store %s: %s in %d blobs, freed %s", r.Dir, humanBytes(r.Bytes), r.Blobs, humanBytes(r.FreedBytes))
}
