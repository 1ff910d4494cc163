package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/records"
)

func openRecords(ro *rootOptions) (*records.Records, error) {
	rec, warning, err := openRecordsIn()
	if warning != "" {
		ro.logger.Warn(warning)
	}
	return rec, err
}

func newHistoryCmd(ro *rootOptions) *cobra.Command {
	opts := &listOptions{}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List recorded builds, newest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(opts.format); err != nil {
				return err
			}
			rec, err := openRecords(ro)
			if err != nil {
				return err
			}
			defer rec.Close()
			builds, err := rec.List()
			if err != nil {
				return err
			}
			if opts.format == "json" {
				return writeJSON(cmd.OutOrStdout(), builds)
			}
			t := newTable(cmd.OutOrStdout(), "ID", "STARTED", "DURATION", "RESULT", "FARM", "INDEX")
			for _, b := range builds {
				d := "-"
				if !b.Finished.IsZero() {
					d = b.Finished.Sub(b.Started).Round(100 * time.Millisecond).String()
				}
				t.row(b.ID, b.Started.Local().Format(time.DateTime), d, b.Result, orDash(b.Farm), orDash(shortDigest(b.Index)))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&opts.format, "format", "table", "output format: table or json")
	cmd.AddCommand(newHistoryPruneCmd(ro))
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

type historyPruneOptions struct {
	keep      int
	olderThan time.Duration
}

func newHistoryPruneCmd(ro *rootOptions) *cobra.Command {
	opts := &historyPruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune --keep N | --older-than DURATION",
		Short: "Remove old build records and their logs",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			keep := -1
			if cmd.Flags().Changed("keep") {
				if opts.keep < 0 {
					return usageError{fmt.Errorf("--keep %d: must not be negative", opts.keep)}
				}
				keep = opts.keep
			}
			if keep < 0 && opts.olderThan <= 0 {
				return usageError{fmt.Errorf("say what to remove: --keep N or --older-than DURATION (e.g. 720h)")}
			}
			rec, err := openRecords(ro)
			if err != nil {
				return err
			}
			defer rec.Close()
			n, err := rec.Prune(keep, opts.olderThan)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %d build record(s)\n", n)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.keep, "keep", 0, "keep the newest N builds")
	cmd.Flags().DurationVar(&opts.olderThan, "older-than", 0, "remove builds older than this (e.g. 720h)")
	return cmd
}

func newInspectCmd(ro *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect ID [OTHER-ID]",
		Short: "Show everything recorded about a build as JSON, or compare the bases of two builds",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("usage: %s", cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rec, err := openRecords(ro)
			if err != nil {
				return err
			}
			defer rec.Close()
			b, err := rec.Get(args[0])
			if err != nil {
				return err
			}
			if len(args) == 1 {
				return writeJSON(cmd.OutOrStdout(), b)
			}
			other, err := rec.Get(args[1])
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), compareBases(b, other))
		},
	}
}

// baseComparison is one base image of one platform in two builds.
type baseComparison struct {
	Platform string `json:"platform"`
	Image    string `json:"image"`
	First    string `json:"first"`
	Second   string `json:"second"`
	Same     bool   `json:"same"`
}

// compareBases lists, per platform and base image, the digests two builds
// used.
func compareBases(a, b records.BuildRecord) []baseComparison {
	digests := func(r records.BuildRecord) map[[2]string]string {
		m := map[[2]string]string{}
		for _, p := range r.Platforms {
			for img, d := range p.BaseDigests {
				m[[2]string{p.Platform, img}] = d
			}
		}
		return m
	}
	da, db := digests(a), digests(b)
	keys := map[[2]string]bool{}
	for k := range da {
		keys[k] = true
	}
	for k := range db {
		keys[k] = true
	}
	out := []baseComparison{}
	for k := range keys {
		out = append(out, baseComparison{Platform: k[0], Image: k[1], First: da[k], Second: db[k], Same: da[k] != "" && da[k] == db[k]})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Platform+out[i].Image < out[j].Platform+out[j].Image
	})
	return out
}

type logsOptions struct {
	platform string
	follow   bool
}

func newLogsCmd(ro *rootOptions) *cobra.Command {
	opts := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs ID [--platform P] [--follow]",
		Short: "Print a build's complete logs",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), ro, opts, args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.platform, "platform", "", "only this platform's log")
	cmd.Flags().BoolVarP(&opts.follow, "follow", "f", false, "keep printing while the build runs")
	return cmd
}

func runLogs(ctx context.Context, ro *rootOptions, opts *logsOptions, id string, w io.Writer) error {
	rec, err := openRecords(ro)
	if err != nil {
		return err
	}
	defer rec.Close()
	b, err := rec.Get(id)
	if err != nil {
		return err
	}
	if opts.platform != "" {
		p, err := platform.Parse(opts.platform)
		if err != nil {
			return err
		}
		return copyLog(ctx, rec, b.ID, platform.Format(p), opts.follow, w)
	}
	if opts.follow {
		return followAll(ctx, rec, b.ID, w)
	}
	if len(b.Platforms) == 0 && b.Result == "running" {
		return fmt.Errorf("build %s is still running: use --follow to watch it", b.ID)
	}
	for i, p := range b.Platforms {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "=== %s on %s (%s)\n", p.Platform, p.Node, p.Result)
		if err := copyLog(ctx, rec, b.ID, p.Platform, false, w); err != nil {
			return err
		}
	}
	return nil
}

// copyLog prints a platform's log, sanitized; with follow it keeps
// printing what is appended until the build is no longer running.
func copyLog(ctx context.Context, rec *records.Records, id, platform string, follow bool, out io.Writer) error {
	path := rec.LogFile(id, platform)
	var f *os.File
	for {
		var err error
		if f, err = os.Open(path); err == nil {
			break
		}
		if !follow || !running(rec, id) {
			return fmt.Errorf("no log for %s in build %s: see farm inspect %s", platform, id, id)
		}
		if sleepCtx(ctx, 300*time.Millisecond) != nil {
			return ctx.Err()
		}
	}
	defer f.Close()
	w := newSafeLineWriter(out)
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		if !follow || !running(rec, id) {
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			return w.Flush()
		}
		if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
			return err
		}
	}
}

func running(rec *records.Records, id string) bool {
	b, err := rec.Get(id)
	return err == nil && strings.EqualFold(b.Result, "running")
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
