package cmd

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/farmbuild/farm/farm"
)

// ptyOutput is what the master side of a pty received.
type ptyOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// openPty opens a pty of cols columns and reads its master side.
func openPty(t *testing.T, cols int) (master, slave *os.File, out *ptyOutput) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	if err := pty.Setsize(master, &pty.Winsize{Rows: 60, Cols: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	out = &ptyOutput{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			out.mu.Lock()
			out.buf.Write(b[:n])
			out.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return master, slave, out
}

// until writes an end mark to the slave side and returns what the master
// received before it.
func (o *ptyOutput) until(t *testing.T, slave *os.File) string {
	t.Helper()
	const end = "<<end of test>>"
	if _, err := slave.WriteString(end); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		o.mu.Lock()
		s := o.buf.String()
		o.mu.Unlock()
		if before, _, ok := strings.Cut(s, end); ok {
			return strings.ReplaceAll(before, "\r\n", "\n")
		}
	}
	t.Fatal("the pty's output did not arrive")
	return ""
}

// longBuild feeds a build with long names, steps and output lines, wide
// characters among them, to p, in two halves around a pause in which the
// ticker redraws.
func longBuild(p *ttyProgress, pause time.Duration) {
	now := time.Now
	ev := func(e farm.Event) { e.Time = now(); p.event(e) }
	for _, pl := range []struct{ platform, node string }{{"linux/amd64", "builder-amd64-long-name"}, {"linux/arm64/v8", "b2"}, {"linux/riscv64", "r1"}} {
		ev(farm.Event{Type: "phase", Phase: "queued", Platform: pl.platform, Node: pl.node, Emulated: pl.node == "r1"})
		ev(farm.Event{Type: "phase", Phase: "building", Platform: pl.platform, Node: pl.node, Emulated: pl.node == "r1", Attempt: 1})
	}
	ev(farm.Event{Type: "log", Platform: "linux/amd64", Step: 1, Steps: 3, Line: "STEP 1/3: FROM registry.example.com/a/very/long/base/image/name:with-a-long-tag"})
	ev(farm.Event{Type: "log", Platform: "linux/amd64", Line: "compiling " + strings.Repeat("x", 300)})
	ev(farm.Event{Type: "log", Platform: "linux/arm64/v8", Step: 2, Steps: 3, Line: "STEP 2/3: RUN echo " + strings.Repeat("构建", 100)})
	ev(farm.Event{Type: "log", Platform: "linux/arm64/v8", Line: strings.Repeat("输出", 150)})
	ev(farm.Event{Type: "log", Platform: "linux/riscv64", Line: "\t" + strings.Repeat("tab\t", 80)})
	time.Sleep(pause)
	ev(farm.Event{Type: "phase", Phase: "canceled", Platform: "linux/riscv64", Node: "r1"})
	ev(farm.Event{Type: "log", Platform: "linux/amd64", Step: 3, Steps: 3, Line: "STEP 3/3: COPY . /src"})
	ev(farm.Event{Type: "phase", Phase: "done", Platform: "linux/amd64", Node: "builder-amd64-long-name"})
	ev(farm.Event{Type: "phase", Phase: "done", Platform: "linux/arm64/v8", Node: "b2"})
}

var ansi = regexp.MustCompile(`\x1b\[[0-9]*[A-Za-z]`)

// drawnLines splits terminal output into its lines, without escape sequences.
func drawnLines(s string) []string { return strings.Split(ansi.ReplaceAllString(s, ""), "\n") }

func cellsOf(s string) int {
	n := 0
	for _, r := range s {
		n += cellWidth(r)
	}
	return n
}

// checkRedraws checks that each redraw moves back over exactly the lines
// the one before drew, and erases each line it draws.
func checkRedraws(t *testing.T, out string) {
	t.Helper()
	frames := regexp.MustCompile(`\x1b\[([0-9]+)A`).FindAllStringSubmatchIndex(out, -1)
	if len(frames) < 3 {
		t.Fatalf("%d redraws, want several", len(frames))
	}
	prev := 0
	for _, f := range frames {
		up, _ := strconv.Atoi(out[f[2]:f[3]])
		if drew := strings.Count(out[prev:f[0]], "\n"); up != drew {
			t.Errorf("a redraw moved up %d lines over %d drawn", up, drew)
		}
		prev = f[1]
	}
	lead := regexp.MustCompile(`^(?:\x1b\[J|\x1b\[[0-9]+A|\r)*`)
	for _, l := range strings.Split(out, "\n") {
		if rest := lead.ReplaceAllString(l, ""); rest != "" && !strings.HasPrefix(rest, "\x1b[2K") {
			t.Errorf("a line is drawn without erasing the line first: %q", l)
		}
	}
}

// The live view, drawn on a real pty of 50 and of 200 columns, never
// draws a line wider than the terminal (a wider one wraps, and the next
// redraw leaves a stale copy of it), and each redraw erases what the one
// before drew: on a terminal, one copy of each row is left.
func TestTTYProgressFitsAPty(t *testing.T) {
	for _, cols := range []int{50, 200} {
		t.Run(strconv.Itoa(cols), func(t *testing.T) {
			_, slave, got := openPty(t, cols)
			p := newTTYProgress(slave)
			longBuild(p, 400*time.Millisecond)
			p.done(nil, nil)
			out := got.until(t, slave)
			for _, l := range drawnLines(out) {
				if w := cellsOf(l); w > cols {
					t.Errorf("a line of %d columns on a terminal of %d: %q", w, cols, l)
				}
			}
			checkRedraws(t, out)
			scr := newScreen(cols)
			if err := scr.write(out); err != nil {
				t.Fatal(err)
			}
			final := strings.Join(scr.lines(), "\n")
			for _, pl := range []string{"linux/amd64 ", "linux/arm64/v8 ", "linux/riscv64 "} {
				n := 0
				for _, l := range scr.lines() {
					if strings.HasPrefix(l, pl) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("the terminal shows %d rows of %s, want 1:\n%s", n, pl, final)
				}
			}
			if scr.wraps > 0 {
				t.Errorf("%d lines wrapped:\n%s", scr.wraps, final)
			}
			// The last line of output is shown under its row while it
			// builds, cut to the width.
			if !regexp.MustCompile(`\n {4}compiling x+…\n`).MatchString(strings.Join(drawnLines(out), "\n")) {
				t.Errorf("the live view lacks the last line of output, cut:\n%s", strings.Join(drawnLines(out), "\n"))
			}
		})
	}
}

// When the terminal gets narrower, the next redraw moves back over the
// rows its lines now take (a terminal rewraps them), and draws at the new
// width.
func TestTTYProgressFollowsAResize(t *testing.T) {
	master, slave, got := openPty(t, 200)
	p := newTTYProgress(slave)
	longBuild(p, 400*time.Millisecond)
	const mark = "<<resized>>"
	p.mu.Lock() // between two redraws
	if _, err := slave.WriteString(mark); err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(master, &pty.Winsize{Rows: 60, Cols: 50}); err != nil {
		t.Fatal(err)
	}
	p.mu.Unlock()
	p.event(farm.Event{Time: time.Now(), Type: "phase", Phase: "fetching", Platform: "linux/amd64", Node: "builder-amd64-long-name", Bytes: 1 << 20})
	p.done(nil, nil)
	before, after, _ := strings.Cut(got.until(t, slave), mark)

	ups := regexp.MustCompile(`\x1b\[([0-9]+)A`)
	last := ups.FindAllStringIndex(before, -1)
	frame := drawnLines(before[last[len(last)-1][1]:])
	rows := 0
	for _, l := range frame[:len(frame)-1] {
		rows += max(1, (cellsOf(l)+49)/50)
	}
	first := ups.FindStringSubmatch(after)
	if first == nil || first[1] != strconv.Itoa(rows) {
		t.Errorf("after the resize the redraw moved up %v, want the %d rows the %d lines of 200 columns take at 50", first, rows, len(frame)-1)
	}
	for _, l := range drawnLines(after) {
		if w := cellsOf(l); w > 50 {
			t.Errorf("after the resize to 50 columns a line of %d: %q", w, l)
		}
	}
}

// Each platform's row shows its current step and instruction, and while
// it builds its last line of output.
func TestTTYProgressShowsStepAndOutput(t *testing.T) {
	t.Setenv("COLUMNS", "120")
	var buf bytes.Buffer
	p := newTTYProgress(&buf)
	p.event(farm.Event{Type: "phase", Phase: "building", Platform: "linux/amd64", Node: "p1"})
	p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Step: 2, Steps: 3, Line: "STEP 2/3: RUN make"})
	p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Line: "cc -c main.c"})
	p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Line: "   "})
	p.event(farm.Event{Type: "phase", Phase: "storing", Output: "oci"}) // redraws
	p.done(nil, nil)
	lines := drawnLines(buf.String())
	frame := strings.Join(lines[len(lines)-4:], "\n")
	if !strings.Contains(frame, "step 2/3 RUN make") || !strings.Contains(frame, "\n    cc -c main.c\n") {
		t.Errorf("the live view lacks the step or the last output line:\n%s", frame)
	}
}
