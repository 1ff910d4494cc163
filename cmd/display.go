package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/farm"
)

// span is when a platform's build ran: from the event that sent it to its
// node to the one that ended it (done, failed or canceled). The live view
// and the summary both show it.
type span struct {
	started, ended time.Time
	canceled       bool
}

func (s *span) observe(e farm.Event) {
	if e.Type != "phase" || e.Time.IsZero() {
		return
	}
	switch e.Phase {
	case "building":
		*s = span{started: e.Time}
	case "done", "failed", "canceled":
		if !s.started.IsZero() && s.ended.IsZero() {
			s.ended, s.canceled = e.Time, e.Phase == "canceled"
		}
	}
}

// ran is how long the build ran (until now while it runs); false when it
// never started.
func (s span) ran(now time.Time) (time.Duration, bool) {
	if s.started.IsZero() {
		return 0, false
	}
	if !s.ended.IsZero() {
		now = s.ended
	}
	return max(now.Sub(s.started), 0), true
}

// running says whether the build started and has not ended.
func (s span) running() bool { return !s.started.IsZero() && s.ended.IsZero() }

// elapsed formats a duration as the live view and the summary show it.
func elapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// buildDisplay shows a build's events with a renderer and keeps what the
// rest of the command needs of them: when each platform ran, for the
// summary, and which nodes still build, for Ctrl-C.
type buildDisplay struct {
	progressRenderer
	mu    sync.Mutex
	runs  map[string]*span
	nodes map[string]string // platform → the node building it
}

func newBuildDisplay(r progressRenderer) *buildDisplay {
	return &buildDisplay{progressRenderer: r, runs: map[string]*span{}, nodes: map[string]string{}}
}

func (d *buildDisplay) event(e farm.Event) {
	if e.Platform != "" && e.Type == "phase" {
		d.mu.Lock()
		s := d.runs[e.Platform]
		if s == nil {
			s = &span{}
			d.runs[e.Platform] = s
		}
		s.observe(e)
		if e.Phase == "building" {
			d.nodes[e.Platform] = e.Node
		}
		d.mu.Unlock()
	}
	d.progressRenderer.event(e)
}

// run returns when a platform ran.
func (d *buildDisplay) run(platform string) span {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.runs[platform]; s != nil {
		return *s
	}
	return span{}
}

// building returns the nodes that have a platform building, sorted.
func (d *buildDisplay) building() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for p, s := range d.runs {
		if n := d.nodes[p]; s.running() && !seen[n] {
			seen[n] = true
			out = append(out, shown(n))
		}
	}
	sort.Strings(out)
	return out
}

// printAbove prints a line above a live view, or as it is.
func (d *buildDisplay) printAbove(w io.Writer, line string) {
	if v, ok := d.progressRenderer.(liveView); ok {
		v.printAbove(line)
		return
	}
	_, _ = io.WriteString(w, line+"\n")
}

// freeze stops a live view's redraws.
func (d *buildDisplay) freeze() {
	if v, ok := d.progressRenderer.(liveView); ok {
		v.freeze()
	}
}

// liveView is a display that redraws its lines in place.
type liveView interface {
	// printAbove prints a line that stays, above the live lines.
	printAbove(line string)
	// freeze stops redrawing: what is printed next goes below.
	freeze()
}

// writeBuildSummary prints a row per platform: its digest (its image ID
// when nothing was stored), FAILED, or canceled (stopped because another
// platform failed, or by Ctrl-C), and how long it ran, as the live view
// showed it.
func writeBuildSummary(w io.Writer, res *farm.BuildResult, err error, d *buildDisplay) {
	canceled := canceledPlatforms(err)
	t := newTable(w, "PLATFORM", "NODE", "MODE", "RESULT", "DURATION")
	for _, p := range res.Platforms {
		run := d.run(p.Platform)
		result := p.Digest
		switch {
		case p.Error != "" && (canceled[p.Platform] || run.canceled):
			result = "canceled"
		case p.Error != "":
			result = "FAILED"
		case result == "":
			result = shortID(p.ImageID)
		}
		took := "-"
		if ran, ok := run.ran(time.Now()); ok {
			took = elapsed(ran)
		} else if p.Duration > 0 {
			took = elapsed(p.Duration)
		}
		t.row(p.Platform, p.Node, mode(p.Emulated), result, took)
	}
	_ = t.flush()
	if res.Index.Digest != "" {
		fmt.Fprintf(w, "Index %s: %s\n", res.Index.Digest, strings.Join(res.Index.References, ", "))
	}
}

// canceledPlatforms returns the platforms whose build err says was
// canceled: because another failed, or by the user.
func canceledPlatforms(err error) map[string]bool {
	out := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *errdefs.BuildError:
			if errors.Is(e.Err, errdefs.ErrCanceled) || errors.Is(e.Err, context.Canceled) {
				out[e.Platform] = true
			}
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				walk(err)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}
