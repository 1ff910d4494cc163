package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/logline"
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

// historyOptions are farm history's flags.
type historyOptions struct {
	format, since, tag, result, farm string
}

func newHistoryCmd(ro *rootOptions) *cobra.Command {
	opts := &historyOptions{}
	cmd := &cobra.Command{
		Use:   "history [--since D] [--tag T] [--result R] [--farm F]",
		Short: "List recorded builds, newest first",
		Long: `List recorded builds, newest first: when each started and how long it took,
its result, farm, tags, platforms and index digest. The filters combine:
--since 24h (or an RFC 3339 time), --tag NAME (exactly, or a glob where *
matches any characters), --result success|failed|interrupted|running,
--farm NAME. --format json prints the builds as a JSON list (times in
RFC 3339), each as farm inspect shows it.`,
		Example: `  farm history --since 24h --result failed
  farm history --tag 'registry.example/app:*' --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHistory(ro, opts, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.format, "format", "table", "output format: table or json")
	f.StringVar(&opts.since, "since", "", "only builds started within this long (e.g. 24h) or since this RFC 3339 time")
	f.StringVar(&opts.tag, "tag", "", "only builds that named this tag (-t), exactly or as a glob (e.g. 'registry.example/app:*')")
	f.StringVar(&opts.result, "result", "", "only builds with this result: "+strings.Join(records.Results, ", "))
	f.StringVar(&opts.farm, "farm", "", "only builds run on this farm")
	cmd.AddCommand(newHistoryPruneCmd(ro))
	return cmd
}

// filter checks the flags and turns them into a records filter.
func (opts *historyOptions) filter(now time.Time) (records.Filter, error) {
	f := records.Filter{Tag: opts.tag, Result: opts.result, Farm: opts.farm}
	if opts.result != "" && !slices.Contains(records.Results, opts.result) {
		return f, usageError{fmt.Errorf("--result %q: use %s", opts.result, strings.Join(records.Results, ", "))}
	}
	if opts.since != "" {
		since, err := parseSince(opts.since, now)
		if err != nil {
			return f, err
		}
		f.Since = since
	}
	return f, nil
}

// parseSince reads --since: a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, usageError{fmt.Errorf("--since %q: give a positive duration, e.g. 24h", s)}
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, usageError{fmt.Errorf("--since %q: give a duration (e.g. 24h, 168h) or an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", s)}
}

func runHistory(ro *rootOptions, opts *historyOptions, w io.Writer) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	filter, err := opts.filter(time.Now())
	if err != nil {
		return err
	}
	rec, err := openRecords(ro)
	if err != nil {
		return err
	}
	defer rec.Close()
	builds, err := rec.Query(filter)
	if err != nil {
		return err
	}
	if opts.format == "json" {
		return writeJSON(w, builds)
	}
	t := newTable(w, "ID", "STARTED", "DURATION", "RESULT", "FARM", "TAGS", "PLATFORMS", "INDEX", "BAKE")
	for _, b := range builds {
		d := "-"
		if !b.Finished.IsZero() {
			d = b.Finished.Sub(b.Started).Round(100 * time.Millisecond).String()
		}
		t.row(b.ID, b.Started.Local().Format(time.DateTime), d, b.Result, orDash(logline.Sanitize(b.Farm)),
			orDash(logline.Sanitize(strings.Join(b.Tags, ","))), orDash(strings.Join(buildPlatforms(b), ",")), orDash(shortDigest(b.Index)),
			bakeColumn(b))
	}
	return t.flush()
}

// bakeColumn is a build's farm bake run and target, BAKE-ID:TARGET, or "-".
func bakeColumn(b records.BuildRecord) string {
	if b.BakeID == "" {
		return "-"
	}
	return b.BakeID + ":" + logline.Sanitize(b.Target)
}

// buildPlatforms returns the platforms a build recorded, else those its
// command line asked for.
func buildPlatforms(b records.BuildRecord) []string {
	var out []string
	for _, p := range b.Platforms {
		out = append(out, p.Platform)
	}
	if len(out) > 0 {
		return out
	}
	for _, a := range b.Args {
		if v, ok := strings.CutPrefix(a, "--platforms="); ok {
			for _, p := range strings.Split(v, ",") {
				out = append(out, logline.Sanitize(strings.TrimSpace(p)))
			}
		}
	}
	return out
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

type logsOptions struct {
	platform, target string
	follow           bool
}

func newLogsCmd(ro *rootOptions) *cobra.Command {
	opts := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs ID [--platform P] [--follow] | logs BAKE-ID --target T",
		Short: "Print a build's complete logs",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), ro, opts, args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.platform, "platform", "", "only this platform's log")
	cmd.Flags().BoolVarP(&opts.follow, "follow", "f", false, "keep printing while the build runs")
	cmd.Flags().StringVar(&opts.target, "target", "", "with a farm bake ID: the log of this target's build")
	return cmd
}

func runLogs(ctx context.Context, ro *rootOptions, opts *logsOptions, id string, w io.Writer) error {
	rec, err := openRecords(ro)
	if err != nil {
		return err
	}
	defer rec.Close()
	var b records.BuildRecord
	if opts.target != "" {
		b, err = rec.BakeTarget(id, opts.target)
	} else {
		b, err = rec.Get(id)
	}
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
