package farm

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one thing that happened during a build, for progress display
// and for scripts (`farm build --progress json` prints them as they come;
// docs/progress.md describes the fields).
type Event struct {
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Type is "phase" (a platform or the build changed phase), "log" (a
	// line of build output) or "result" (the build's outcome, last).
	Type string `json:"type"`
	// Target is the farm bake target the event is about (set by farm
	// bake's display, not by Build).
	Target string `json:"target,omitempty"`
	// Platform and Node say which build it is about; empty for the whole build.
	Platform string `json:"platform,omitempty"`
	Node     string `json:"node,omitempty"`
	// Emulated is true for a platform built under emulation.
	Emulated bool `json:"emulated,omitempty"`
	// Phase is, per platform, one of queued, building, rescheduled,
	// retrying, done, failed, canceled, then fetching and fetched (the
	// image comes back from its node), then pushing and pushed (the
	// client pushes it to the registry); for the whole build, storing.
	Phase string `json:"phase,omitempty"`
	// Attempt counts the builds of the platform so far.
	Attempt int `json:"attempt,omitempty"`
	// Step is the Containerfile step a log line starts ("2/3"), and Steps
	// the build's number of steps.
	Step  int `json:"step,omitempty"`
	Steps int `json:"steps,omitempty"`
	// Line is a line of build output.
	Line string `json:"line,omitempty"`
	// ImageID and ImageRef are, when a platform is done, its image on its
	// node and the name farm gave it there; Intermediate the layer images
	// its build created.
	ImageID      string   `json:"imageID,omitempty"`
	ImageRef     string   `json:"imageRef,omitempty"`
	NodeID       string   `json:"nodeID,omitempty"`
	Intermediate []string `json:"-"`
	// Output names where the result goes while storing: local, push or oci.
	Output string `json:"output,omitempty"`
	// Bytes and Rate (bytes per second) tell how much of a platform's
	// image has been fetched from its node (phases fetching, fetched).
	Bytes int64   `json:"bytes,omitempty"`
	Rate  float64 `json:"rate,omitempty"`
	// Error says why a platform or the build failed.
	Error string `json:"error,omitempty"`
	// Result is set on the final event.
	Result *BuildResult `json:"result,omitempty"`
}

// Progress receives a build's events. farm calls it from one goroutine at
// a time.
type Progress func(Event)

// emitter serializes events and stamps their time.
type emitter struct {
	mu sync.Mutex
	fn Progress
}

func (e *emitter) emit(ev Event) {
	if e == nil || e.fn == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.fn(ev)
}

// stepLine matches the line that starts a step in podman's ("STEP 2/3:"),
// docker's classic ("Step 2/3 :") and BuildKit's ("[2/3] RUN") output.
var stepLine = regexp.MustCompile(`^(?:STEP |Step |\[)(\d+)/(\d+)[]: ]`)

// stepOf returns the step a line starts, or zeros (also for numbers too
// big for an int: the line comes from the node).
func stepOf(line string) (int, int) {
	m := stepLine.FindStringSubmatch(line)
	if m == nil {
		return 0, 0
	}
	n, err1 := strconv.Atoi(m[1])
	total, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return n, total
}

// StepText returns the instruction of a line that starts a step ("RUN
// make" of "STEP 2/3: RUN make", "Step 2/3 : RUN make" or "[2/3] RUN
// make"), or "" for any other line.
func StepText(line string) string {
	loc := stepLine.FindStringIndex(line)
	if loc == nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimLeft(line[loc[1]:], " :"))
}

// countingWriter counts the bytes written through it and reports them, at
// most twice a second and once at the end.
type countingWriter struct {
	w          io.Writer
	n          int64
	start      time.Time
	lastReport time.Time
	report     func(bytes int64, rate float64, final bool)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if now := time.Now(); now.Sub(c.lastReport) >= 500*time.Millisecond {
		c.lastReport = now
		c.report(c.n, c.rate(now), false)
	}
	return n, err
}

func (c *countingWriter) rate(now time.Time) float64 {
	if s := now.Sub(c.start).Seconds(); s > 0 {
		return float64(c.n) / s
	}
	return 0
}

func (c *countingWriter) finish() { c.report(c.n, c.rate(time.Now()), true) }
