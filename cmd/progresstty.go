package cmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/logline"
)

// ttyLines is how many of its last output lines the tty view keeps per
// platform, to show when it fails.
const ttyLines = 200

// ttyProgress keeps one live row per platform (node, native or emulated,
// elapsed time, phase or current step) and, while the platform builds,
// its last line of output under it, redrawn in place with every line cut
// to the terminal's width, which is read again at each redraw. At the end
// it prints the last ttyLines lines of output of failed platforms.
type ttyProgress struct {
	w       io.Writer
	size    func() (cols, rows int)
	mu      sync.Mutex
	rows    map[string]*ttyRow
	drawn   []int // the width of each line drawn last, to move back over them
	storing string
	frozen  bool // the live lines are drawn for the last time
	stop    chan struct{}
	stopped sync.WaitGroup
}

type ttyRow struct {
	platform, node, phase string
	emulated              bool
	step, steps           int
	stepText, last        string // the current step's instruction, the last line of output since
	bytes                 int64
	rate                  float64
	run                   span
	log                   *logline.Tail
}

// newTTYProgress draws on w at the size of the terminal w is.
func newTTYProgress(w io.Writer) *ttyProgress { return newTTYProgressSized(w, termSize(w)) }

// newTTYProgressSized draws on w at the size size returns at each redraw
// (rows 0: unknown).
func newTTYProgressSized(w io.Writer, size func() (cols, rows int)) *ttyProgress {
	p := &ttyProgress{w: w, size: size, rows: map[string]*ttyRow{}, stop: make(chan struct{})}
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
	r.run.observe(e)
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
			r.step, r.steps, r.stepText, r.last = 0, 0, "", ""
			r.log.Reset()
		case "done", "failed", "canceled", "test-failed":
			if e.Error != "" {
				r.log.Add("ERROR: " + shown(e.Error))
			}
		case "fetching", "fetched":
			r.bytes, r.rate = e.Bytes, e.Rate
		}
	case "log":
		line := shown(e.Line)
		r.log.Add(line)
		if e.Step <= 0 {
			if strings.TrimSpace(line) != "" {
				r.last = line
			}
			// The ticker redraws: a flood of lines costs no terminal writes.
			return
		}
		r.step, r.steps, r.stepText, r.last = e.Step, e.Steps, farm.StepText(line), ""
	}
	p.redraw()
}

// redraw rewrites the live lines in place.
func (p *ttyProgress) redraw() { p.draw("") }

// draw moves back over the lines drawn last, prints above (when not
// empty: a line that stays, above the live lines), and draws the live
// lines again, each cut to the terminal's width.
func (p *ttyProgress) draw(above string) {
	if p.frozen {
		return
	}
	cols, rows := p.size()
	lines := p.lines(cols, rows)
	if len(lines) == 0 && len(p.drawn) == 0 && above == "" {
		return
	}
	var b strings.Builder
	if up := rowsTaken(p.drawn, cols); up > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", up)
	}
	b.WriteString("\r")
	if above != "" {
		// Erase first: a long line wraps onto the rows below it.
		b.WriteString("\x1b[J" + above + "\n")
	}
	p.drawn = p.drawn[:0]
	for _, l := range lines {
		b.WriteString("\x1b[2K" + l + "\n")
		p.drawn = append(p.drawn, textWidth(l))
	}
	b.WriteString("\x1b[J")
	_, _ = io.WriteString(p.w, b.String())
}

// rowsTaken is how many terminal rows lines of these widths take once the
// terminal is cols wide: more than one each when it got narrower since
// they were drawn and rewrapped them.
func rowsTaken(widths []int, cols int) int {
	n := 0
	for _, w := range widths {
		n += max(1, (w+cols-1)/max(cols, 1))
	}
	return n
}

// lines are the live lines for a terminal of cols columns and rows rows
// (0: unknown): each cut to leave the last column free (some terminals
// wrap on it at once), and fewer than rows of them, output lines dropped
// first, so that the cursor can move back over all of them. Long node
// names are cut, and below 80 columns the mode column goes, to leave room
// for the step.
func (p *ttyProgress) lines(cols, rows int) []string {
	width, height := max(cols-1, 1), rows-1
	names := make([]string, 0, len(p.rows))
	pw, nw := 0, 0
	for n, r := range p.rows {
		names = append(names, n)
		pw, nw = max(pw, textWidth(shown(r.platform))), max(nw, textWidth(shown(r.node)))
	}
	sort.Strings(names)
	withMode := cols >= 80
	fixed := pw + 2 + 2 + 6 + 2 // platform, node, elapsed and their gaps
	if withMode {
		fixed += 8 + 2
	}
	nw = min(nw, maxNodeWidth, max(6, width-fixed-minStateWidth))
	showOutput := height <= 0 || 2*len(names)+1 <= height
	var out []string
	for _, n := range names {
		r := p.rows[n]
		node := cutToWidth(shown(r.node), nw)
		head := fmt.Sprintf("%s%*s  %s%*s  ", shown(r.platform), pw-textWidth(shown(r.platform)), "", node, nw-textWidth(node), "")
		if withMode {
			head += fmt.Sprintf("%-8s  ", mode(r.emulated))
		}
		out = append(out, cutToWidth(fmt.Sprintf("%s%6s  %s", head, r.elapsed(), r.state()), width))
		if showOutput && r.last != "" && (r.phase == "building" || r.phase == "testing") {
			out = append(out, cutToWidth("    "+r.last, width))
		}
	}
	if p.storing != "" {
		out = append(out, cutToWidth(fmt.Sprintf("storing the result (%s)", p.storing), width))
	}
	if height > 0 && len(out) > height {
		more := len(out) - height + 1
		out = append(out[:height-1], cutToWidth(fmt.Sprintf("… %d more lines (a taller terminal shows them)", more), width))
	}
	return out
}

// The node column is at most maxNodeWidth wide, and narrower when the
// state would get fewer than minStateWidth columns.
const (
	maxNodeWidth  = 20
	minStateWidth = 24
)

// state is a row's phase, with the current step and its instruction while
// it builds and the bytes while its image comes back.
func (r *ttyRow) state() string {
	switch {
	case r.phase == "building" && r.steps > 0:
		return strings.TrimSpace(fmt.Sprintf("step %d/%d %s", r.step, r.steps, r.stepText))
	case r.phase == "fetching" || r.phase == "fetched":
		return fmt.Sprintf("%s %s %s/s", r.phase, humanBytes(r.bytes), humanBytes(int64(r.rate)))
	}
	return r.phase
}

func (r *ttyRow) elapsed() string {
	if d, ok := r.run.ran(time.Now()); ok {
		return elapsed(d)
	}
	return ""
}

// printAbove prints line above the live lines, which stay below it.
func (p *ttyProgress) printAbove(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		_, _ = io.WriteString(p.w, line+"\n")
		return
	}
	p.draw(line)
}

// freeze draws the live lines a last time and stops redrawing them: what
// is printed next goes below them.
func (p *ttyProgress) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redraw()
	p.frozen = true
}

func (p *ttyProgress) done(*farm.BuildResult, error) bool {
	close(p.stop)
	p.stopped.Wait()
	p.freeze()
	p.mu.Lock()
	defer p.mu.Unlock()
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
