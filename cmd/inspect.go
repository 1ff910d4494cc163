package cmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/logline"
	"github.com/farmbuild/farm/records"
)

// inspectOptions are farm inspect's flags.
type inspectOptions struct {
	format string
}

func newInspectCmd(ro *rootOptions) *cobra.Command {
	opts := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect ID [OTHER-ID]",
		Short: "Show everything recorded about a build, or compare the bases of two builds",
		Long: `Show everything recorded about a build: per platform the node and its engine
(kind and version), native or emulated, the result, the image's digest and
the digest of each base image it was built from ("unknown" when farm did not
resolve it: only --pin-base does), and the build's index digest. JSON by
default; --format table for reading. With two IDs, compare the base digests
of two builds.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("usage: %s", cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(ro, opts, args, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.format, "format", "json", "output format: json or table")
	return cmd
}

func runInspect(ro *rootOptions, opts *inspectOptions, ids []string, w io.Writer) error {
	if err := checkFormat(opts.format); err != nil {
		return err
	}
	rec, err := openRecords(ro)
	if err != nil {
		return err
	}
	defer rec.Close()
	b, err := rec.Get(ids[0])
	if err != nil {
		return err
	}
	if len(ids) == 1 {
		if opts.format == "json" {
			return writeJSON(w, b)
		}
		return writeBuild(w, b)
	}
	other, err := rec.Get(ids[1])
	if err != nil {
		return err
	}
	cmp := compareBases(b, other)
	if opts.format == "json" {
		return writeJSON(w, cmp)
	}
	t := newTable(w, "PLATFORM", "IMAGE", "FIRST", "SECOND", "SAME")
	for _, c := range cmp {
		t.row(c.Platform, logline.Sanitize(c.Image), orDash(c.First), orDash(c.Second), c.Same)
	}
	return t.flush()
}

// writeBuild prints a build record for reading.
func writeBuild(w io.Writer, b records.BuildRecord) error {
	t := newTable(w, "ID", b.ID)
	t.row("RESULT", fmt.Sprintf("%s (exit %d)", b.Result, b.ExitCode))
	t.row("STARTED", b.Started.Local().Format(time.RFC3339))
	if !b.Finished.IsZero() {
		t.row("FINISHED", b.Finished.Local().Format(time.RFC3339))
	}
	t.row("USER", orDash(b.User))
	t.row("FARM", orDash(logline.Sanitize(b.Farm)))
	t.row("TAGS", orDash(logline.Sanitize(strings.Join(b.Tags, ", "))))
	t.row("OUTPUT", orDash(b.Output))
	t.row("INDEX", orDash(b.Index))
	if b.Error != "" {
		t.row("ERROR", logline.Sanitize(b.Error))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = newTable(w, "PLATFORM", "NODE", "ENGINE", "MODE", "RESULT", "DIGEST", "BASE")
	for _, p := range b.Platforms {
		engine := records.UnknownDigest
		if p.Engine != "" {
			engine = strings.TrimSpace(p.Engine + " " + p.EngineVersion)
		}
		t.row(p.Platform, orDash(logline.Sanitize(p.Node)), logline.Sanitize(engine), mode(p.Emulated), p.Result,
			orDash(p.Digest), logline.Sanitize(basesOf(p)))
	}
	return t.flush()
}

// basesOf lists a platform's base images with their digests, or says
// they are unknown.
func basesOf(p records.PlatformRecord) string {
	if len(p.BaseDigests) == 0 {
		return records.UnknownDigest
	}
	var out []string
	for img, d := range p.BaseDigests {
		out = append(out, img+" "+d)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
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
// used; two unknown digests are not the same.
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
	known := func(d string) bool { return d != "" && d != records.UnknownDigest }
	out := []baseComparison{}
	for k := range keys {
		out = append(out, baseComparison{Platform: k[0], Image: k[1], First: da[k], Second: db[k], Same: known(da[k]) && da[k] == db[k]})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Platform+out[i].Image < out[j].Platform+out[j].Image
	})
	return out
}
