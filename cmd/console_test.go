package cmd

import (
	"strings"
	"testing"
	"time"

	"github.com/farmbuild/farm/farm"
)

// Warnings and Ctrl-C notices printed while the live view is on stay on
// the screen, above it, and the view is redrawn once below them; after a
// last line the view stays as it was.
func TestConsolePrintsAboveTheLiveView(t *testing.T) {
	out := &lockedBuffer{}
	p := newTTYProgressSized(out, func() (int, int) { return 60, 0 })
	con := &console{w: out}
	d := newBuildDisplay(p)
	detach := con.attach(d)
	now := time.Now()
	for _, pl := range []string{"linux/amd64", "linux/arm64"} {
		d.event(farm.Event{Time: now, Type: "phase", Phase: "building", Platform: pl, Node: "n-" + pl[6:]})
	}
	d.event(farm.Event{Time: now, Type: "log", Platform: "linux/amd64", Step: 1, Steps: 2, Line: "STEP 1/2: FROM base"})
	logger, _ := newLogger(con, "warn")
	logger.Warn("node went down during the build: scheduling its platforms elsewhere", "node", "n-arm64", "error", strings.Repeat("long ", 30))
	if got := con.building(); strings.Join(got, ",") != "n-amd64,n-arm64" {
		t.Errorf("building on %v", got)
	}
	d.event(farm.Event{Time: now, Type: "phase", Phase: "done", Platform: "linux/arm64", Node: "n-arm64"})
	if got := con.building(); strings.Join(got, ",") != "n-amd64" {
		t.Errorf("building on %v after arm64 is done", got)
	}
	con.last("quit")
	d.event(farm.Event{Time: now, Type: "phase", Phase: "done", Platform: "linux/amd64", Node: "n-amd64"})
	detach()
	p.done(nil, nil)
	scr := newScreen(60)
	if err := scr.write(out.String()); err != nil {
		t.Fatal(err)
	}
	lines := scr.lines()
	got := strings.Join(lines, "\n")
	n := len(lines)
	if n < 4 || !strings.HasPrefix(lines[0], "warning: node went down during the build") || !strings.HasSuffix(lines[n-4], "long)") ||
		!strings.HasPrefix(lines[n-3], "linux/amd64") || !strings.HasPrefix(lines[n-2], "linux/arm64") || lines[n-1] != "quit" {
		t.Fatalf("the screen must show the warning, then the view, then the last line:\n%s", got)
	}
	if strings.Count(got, "linux/") != 2 {
		t.Errorf("one row per platform:\n%s", got)
	}
	if !strings.Contains(lines[n-3], "step 1/2 FROM base") || !strings.Contains(lines[n-2], "done") {
		t.Errorf("the view must stay as it was when farm quit:\n%s", got)
	}
}
