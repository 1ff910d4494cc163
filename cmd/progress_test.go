package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/farmbuild/farm/farm"
)

// events is a small build: amd64 succeeds, arm64 fails at step 2.
func events() []farm.Event {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []farm.Event{
		{Time: t0, Type: "phase", Phase: "queued", Platform: "linux/amd64", Node: "p1"},
		{Time: t0, Type: "phase", Phase: "queued", Platform: "linux/arm64", Node: "p2", Emulated: true},
		{Time: t0, Type: "phase", Phase: "building", Platform: "linux/amd64", Node: "p1", Attempt: 1},
		{Time: t0, Type: "phase", Phase: "building", Platform: "linux/arm64", Node: "p2", Emulated: true, Attempt: 1},
		{Time: t0, Type: "log", Platform: "linux/arm64", Node: "p2", Step: 2, Steps: 2, Line: "STEP 2/2: RUN make"},
		{Time: t0, Type: "log", Platform: "linux/arm64", Node: "p2", Line: "make: *** no rule"},
		{Time: t0.Add(time.Second), Type: "phase", Phase: "done", Platform: "linux/amd64", Node: "p1"},
		{Time: t0.Add(2 * time.Second), Type: "phase", Phase: "failed", Platform: "linux/arm64", Node: "p2", Error: "exit status 2"},
	}
}

func render(t *testing.T, mode string) (string, bool) {
	t.Helper()
	t.Setenv("COLUMNS", "100")
	var buf bytes.Buffer
	p, err := newProgress(mode, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events() {
		p.event(e)
	}
	reported := p.done(&farm.BuildResult{}, errors.New("building linux/arm64 on p2: exit status 2"))
	return buf.String(), reported
}

func TestPlainProgress(t *testing.T) {
	out, reported := render(t, "plain")
	if reported || !strings.Contains(out, "[linux/arm64@p2] STEP 2/2: RUN make\n[linux/arm64@p2] make: *** no rule\n") {
		t.Errorf("plain:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("plain output must have no escape codes: %q", out)
	}
}

func TestJSONProgress(t *testing.T) {
	out, reported := render(t, "json")
	if !reported {
		t.Error("json mode reports the result itself")
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(events())+1 {
		t.Fatalf("%d lines, want one per event plus the result:\n%s", len(lines), out)
	}
	var last farm.Event
	for _, l := range lines {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
	}
	if last.Type != "result" || last.Error == "" || last.Result == nil {
		t.Errorf("last event: %+v", last)
	}
}

func TestTTYProgress(t *testing.T) {
	out, reported := render(t, "tty")
	if reported {
		t.Error("tty mode leaves the summary table to the caller")
	}
	for _, want := range []string{"\x1b[2K", "linux/amd64  p1  native      1.0s  done\n", "linux/arm64  p2  emulated    2.0s  failed\n",
		"--- output of linux/arm64 on p2 (failed) ---\nSTEP 2/2: RUN make\nmake: *** no rule\nERROR: exit status 2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("tty output lacks %q:\n%q", want, out)
		}
	}
}

func TestProgressModeErrors(t *testing.T) {
	if _, err := newProgress("fancy", &bytes.Buffer{}); ExitCode(err) != exitUsage {
		t.Errorf("bad mode: %v", err)
	}
	// auto on something that is not a terminal is plain.
	p, _ := newProgress("auto", &bytes.Buffer{})
	if _, ok := p.(*plainProgress); !ok {
		t.Errorf("auto off a terminal = %T", p)
	}
}

func TestTTYProgressShowsBytes(t *testing.T) {
	var buf bytes.Buffer
	p := newTTYProgress(&buf)
	p.event(farm.Event{Type: "phase", Phase: "done", Platform: "linux/amd64", Node: "p1"})
	p.event(farm.Event{Type: "phase", Phase: "fetching", Platform: "linux/amd64", Node: "p1", Bytes: 10 << 20, Rate: 5 << 20})
	p.done(nil, nil)
	if !strings.Contains(buf.String(), "fetching 10.0MiB 5.0MiB/s") {
		t.Errorf("tty must show bytes and rate while fetching:\n%q", buf.String())
	}
	var plain bytes.Buffer
	pp := &plainProgress{w: &plain}
	pp.event(farm.Event{Type: "phase", Phase: "fetched", Platform: "linux/amd64", Node: "p1", Bytes: 3 << 20, Rate: 1 << 20})
	if plain.String() != "[linux/amd64@p1] fetched 3.0MiB (1.0MiB/s)\n" {
		t.Errorf("plain: %q", plain.String())
	}
}

// hostile is build output that tries to drive the terminal: set its
// title, clear it, write to the clipboard, with raw C1 and bad UTF-8.
const hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[Hevil\x1b]52;c;ZXZpbA==\x07 \u009b31m\xff\x00"

// noControls fails when s has an escape or a control character but tab
// and newline, or invalid UTF-8.
func noControls(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s is not valid UTF-8: %q", what, s)
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n') || (r >= 0x7f && r <= 0x9f) {
			t.Errorf("%s has control %U: %q", what, r, s)
			return
		}
	}
}

func TestPlainProgressSanitizesBuildOutput(t *testing.T) {
	var buf bytes.Buffer
	p := &plainProgress{w: &buf}
	p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Line: hostile})
	p.event(farm.Event{Type: "phase", Phase: "test-failed", Platform: "linux/amd64", Node: "p1", Error: hostile})
	p.event(farm.Event{Type: "phase", Phase: "retrying", Platform: "linux/amd64", Node: "p1", Error: "broken\n[linux/arm64@p2] forged"})
	noControls(t, "plain output", buf.String())
	if !strings.Contains(buf.String(), "[linux/amd64@p1] evil") || strings.Count(buf.String(), "\n") != 3 {
		t.Errorf("plain output:\n%q", buf.String())
	}
}

func TestTTYProgressSanitizesBuildOutput(t *testing.T) {
	var buf bytes.Buffer
	p := newTTYProgress(&buf)
	p.event(farm.Event{Type: "phase", Phase: "building", Platform: "linux/amd64", Node: "p1"})
	p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Line: hostile})
	p.event(farm.Event{Type: "phase", Phase: "failed", Platform: "linux/amd64", Node: "p1", Error: hostile})
	p.done(nil, nil)
	_, failed, ok := strings.Cut(buf.String(), "--- output of")
	if !ok || !strings.Contains(failed, "\nevil") || !strings.Contains(failed, "ERROR: evil") {
		t.Fatalf("tty output:\n%q", buf.String())
	}
	noControls(t, "the failed platform's output", failed)
}

// The tty view keeps the last ttyLines lines of each platform, not all.
func TestTTYProgressKeepsTheLastLines(t *testing.T) {
	var buf bytes.Buffer
	p := newTTYProgress(&buf)
	p.event(farm.Event{Type: "phase", Phase: "building", Platform: "linux/amd64", Node: "p1"})
	for i := range 5000 {
		p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Line: fmt.Sprintf("line %d", i)})
	}
	p.event(farm.Event{Type: "phase", Phase: "failed", Platform: "linux/amd64", Node: "p1", Error: "exit status 1"})
	p.done(nil, nil)
	_, failed, _ := strings.Cut(buf.String(), "--- output of")
	if n := strings.Count(failed, "\nline "); n != ttyLines-1 {
		t.Errorf("the failed output has %d lines of the build, want the last %d", n, ttyLines-1)
	}
	if !strings.Contains(failed, "[4801 earlier lines: see farm logs]\nline 4801\n") || !strings.Contains(failed, "line 4999\nERROR: exit status 1\n") {
		t.Errorf("failed output:\n%s", failed)
	}
}

// countWrites counts the writes to it.
type countWrites struct{ n int }

func (c *countWrites) Write(p []byte) (int, error) { c.n++; return len(p), nil }

// Lines of output do not redraw the view each (the ticker does, four
// times a second); a new step does.
func TestTTYProgressLinesDoNotRedraw(t *testing.T) {
	var w countWrites
	p := newTTYProgress(&w)
	p.event(farm.Event{Type: "phase", Phase: "building", Platform: "linux/amd64", Node: "p1"})
	p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Step: 1, Steps: 2, Line: "STEP 1/2: FROM x"})
	for range 1000 {
		p.event(farm.Event{Type: "log", Platform: "linux/amd64", Node: "p1", Line: "output"})
	}
	p.done(nil, nil)
	if w.n > 50 {
		t.Errorf("1000 lines of output made %d writes to the terminal", w.n)
	}
}
