package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/logline"
)

// newProgress returns the renderer of a --progress mode. auto means tty
// when w is a terminal, else plain.
func newProgress(mode string, w io.Writer) (progressRenderer, error) {
	switch mode {
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return newTTYProgress(w), nil
		}
		return &plainProgress{w: w}, nil
	case "plain":
		return &plainProgress{w: w}, nil
	case "tty":
		return newTTYProgress(w), nil
	case "json":
		return &jsonProgress{enc: json.NewEncoder(w)}, nil
	}
	return nil, usageError{fmt.Errorf("--progress %q: use auto, tty, plain or json", mode)}
}

// progressRenderer shows a build's events.
type progressRenderer interface {
	event(farm.Event)
	// done ends the display; it returns true when the renderer reported
	// the result itself (json), so no summary table is printed.
	done(*farm.BuildResult, error) bool
}

// shown is a line of build output or an error, which come from nodes, as
// it may be printed: cut at logline.MaxLine, without control characters.
func shown(s string) string { return logline.Sanitize(logline.Cut(s, logline.MaxLine)) }

// plainProgress prints each output line with a [platform@node] prefix,
// and phase changes worth knowing.
type plainProgress struct{ w io.Writer }

func (p *plainProgress) event(e farm.Event) {
	prefix := shown(e.Node)
	if e.Platform != "" {
		prefix = shown(e.Platform) + "@" + prefix
	}
	switch {
	case e.Type == "log":
		fmt.Fprintf(p.w, "[%s] %s\n", prefix, shown(e.Line))
	case e.Phase == "rescheduled" || e.Phase == "retrying":
		fmt.Fprintf(p.w, "[%s] %s: %s\n", prefix, e.Phase, shown(e.Error))
	case e.Phase == "storing":
		fmt.Fprintf(p.w, "storing the result (%s)\n", e.Output)
	case e.Phase == "fetched":
		fmt.Fprintf(p.w, "[%s] fetched %s (%s/s)\n", prefix, humanBytes(e.Bytes), humanBytes(int64(e.Rate)))
	case e.Phase == "pushed":
		fmt.Fprintf(p.w, "[%s] pushed %s\n", prefix, shown(e.Line))
	case e.Phase == "testing":
		fmt.Fprintf(p.w, "[%s] testing: %s\n", prefix, shown(e.Line))
	case e.Phase == "test-failed":
		fmt.Fprintf(p.w, "[%s] TEST FAILED: %s\n", prefix, shown(e.Error))
	}
}

func (p *plainProgress) done(*farm.BuildResult, error) bool { return false }

// jsonProgress prints one JSON event per line, the result last.
type jsonProgress struct{ enc *json.Encoder }

func (p *jsonProgress) event(e farm.Event) { _ = p.enc.Encode(e) }

func (p *jsonProgress) done(res *farm.BuildResult, err error) bool {
	e := farm.Event{Time: time.Now(), Type: "result", Result: res}
	if err != nil {
		e.Error = OneLine(err)
	}
	_ = p.enc.Encode(e)
	return true
}

// ttyLines is how many of its last output lines the tty view keeps per
// platform, to show when it fails.
const ttyLines = 200

// ttyProgress keeps one live line per platform (node, native or emulated,
// phase, step, elapsed time), redrawn in place, and prints the last
// ttyLines lines of output of failed platforms at the end.
type ttyProgress struct {
	w       io.Writer
	mu      sync.Mutex
	rows    map[string]*ttyRow
	drawn   int
	storing string
	stop    chan struct{}
	stopped sync.WaitGroup
}

type ttyRow struct {
	platform, node, phase string
	emulated              bool
	step, steps           int
	bytes                 int64
	rate                  float64
	started, ended        time.Time
	log                   *logline.Tail
}

func newTTYProgress(w io.Writer) *ttyProgress {
	p := &ttyProgress{w: w, rows: map[string]*ttyRow{}, stop: make(chan struct{})}
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.redraw()
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *ttyProgress) event(e farm.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Phase == "storing" {
		p.storing = e.Output
		p.redraw()
		return
	}
	if e.Platform == "" {
		return
	}
	r := p.rows[e.Platform]
	if r == nil {
		r = &ttyRow{platform: e.Platform, log: logline.NewTail(ttyLines)}
		p.rows[e.Platform] = r
	}
	if e.Node != "" {
		r.node = e.Node
	}
	switch e.Type {
	case "phase":
		r.phase = e.Phase
		if e.Phase != "queued" {
			r.emulated = e.Emulated || r.emulated
		} else {
			r.emulated = e.Emulated
		}
		switch e.Phase {
		case "building":
			r.started, r.ended = e.Time, time.Time{}
			r.log.Reset()
		case "done", "failed", "canceled", "test-failed":
			r.ended = e.Time
			if e.Error != "" {
				r.log.Add("ERROR: " + shown(e.Error))
			}
		case "fetching", "fetched":
			r.bytes, r.rate = e.Bytes, e.Rate
		}
	case "log":
		r.log.Add(shown(e.Line))
		if e.Step <= 0 || (e.Step == r.step && e.Steps == r.steps) {
			// The ticker redraws: a flood of lines costs no terminal writes.
			return
		}
		r.step, r.steps = e.Step, e.Steps
	}
	p.redraw()
}

// redraw rewrites the live lines in place.
func (p *ttyProgress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	names := make([]string, 0, len(p.rows))
	for n := range p.rows {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := p.rows[n]
		mode := "native"
		if r.emulated {
			mode = "emulated"
		}
		phase := r.phase
		switch {
		case phase == "building" && r.steps > 0:
			phase = fmt.Sprintf("step %d/%d", r.step, r.steps)
		case phase == "fetching" || phase == "fetched":
			phase = fmt.Sprintf("%s %s %s/s", phase, humanBytes(r.bytes), humanBytes(int64(r.rate)))
		}
		elapsed := ""
		if !r.started.IsZero() {
			end := r.ended
			if end.IsZero() {
				end = time.Now()
			}
			elapsed = end.Sub(r.started).Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "\x1b[2K%-14s %-10s %-8s %-12s %s\n", r.platform, r.node, mode, phase, elapsed)
	}
	lines := len(names)
	if p.storing != "" {
		fmt.Fprintf(&b, "\x1b[2Kstoring the result (%s)\n", p.storing)
		lines++
	}
	p.drawn = lines
	_, _ = io.WriteString(p.w, b.String())
}

func (p *ttyProgress) done(*farm.BuildResult, error) bool {
	close(p.stop)
	p.stopped.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redraw()
	names := make([]string, 0, len(p.rows))
	for n, r := range p.rows {
		if r.phase == "failed" || r.phase == "test-failed" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		r := p.rows[n]
		fmt.Fprintf(p.w, "\n--- output of %s on %s (failed) ---\n", shown(r.platform), shown(r.node))
		if n := r.log.Dropped(); n > 0 {
			fmt.Fprintf(p.w, "[%d earlier lines: see farm logs]\n", n)
		}
		for _, l := range r.log.Lines() {
			fmt.Fprintln(p.w, l)
		}
	}
	return false
}
