package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/farmbuild/farm/logline"
	"github.com/farmbuild/farm/records"
)

// followPoll is how often a followed build's logs are looked at.
const followPoll = 300 * time.Millisecond

// followAll prints every platform's log of a build as it grows, each line
// prefixed with its platform and node as plain progress prints it, until
// the build is no longer running (or ctx ends), then what is left.
func followAll(ctx context.Context, rec *records.Records, id string, out io.Writer) error {
	dir := filepath.Dir(rec.LogFile(id, "linux/amd64"))
	tails := map[string]*logTail{}
	defer func() {
		for _, t := range tails {
			t.f.Close()
		}
	}()
	for {
		b, err := rec.Get(id)
		if err != nil {
			return err
		}
		done := !strings.EqualFold(b.Result, "running")
		nodes := map[string]string{}
		for _, p := range b.Platforms {
			nodes[p.Platform] = p.Node
		}
		entries, _ := os.ReadDir(dir)
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".log")
			if !ok {
				continue
			}
			t := tails[name]
			if t == nil {
				f, err := os.Open(filepath.Join(dir, e.Name()))
				if err != nil {
					continue
				}
				t = &logTail{f: f, platform: strings.ReplaceAll(name, "-", "/")}
				t.lines = logline.NewSplitter(maxShownLogLine, func(l string) { t.pending = append(t.pending, l) })
				tails[name] = t
			}
			if err := t.print(out, nodes[t.platform], done); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
		if err := sleepCtx(ctx, followPoll); err != nil {
			return err
		}
	}
}

// logTail is one log file being followed.
type logTail struct {
	f        *os.File
	platform string
	lines    *logline.Splitter
	pending  []string
}

// print prints the lines the file has gained, prefixed; at the end a last
// line without a newline too.
func (t *logTail) print(out io.Writer, node string, end bool) error {
	if _, err := io.Copy(t.lines, t.f); err != nil {
		return err
	}
	if end {
		t.lines.Flush()
	}
	prefix := "[build] "
	if t.platform != "" {
		prefix = "[" + t.platform + "] "
		if node != "" {
			prefix = "[" + t.platform + "@" + node + "] "
		}
	}
	for _, l := range t.pending {
		if _, err := fmt.Fprintln(out, prefix+logline.Sanitize(l)); err != nil {
			return err
		}
	}
	t.pending = t.pending[:0]
	return nil
}
