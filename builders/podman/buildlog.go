package podman

import (
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/logline"
	"github.com/farmbuild/farm/platform"
)

// buildTracker reads podman's build output line by line, forwards every
// line to the log with the platform it belongs to, and records per
// platform the last step started, for messages only: the output is text
// RUN steps can print too, so no image is ever taken from it. With several
// platforms podman prefixes step lines with "[os/arch] " and builds one
// platform after another (jobs=1), so unprefixed lines belong to the
// platform of the last prefixed one.
type buildTracker struct {
	platforms []ocispec.Platform
	log       func(*ocispec.Platform, string)
	cur       int
	steps     []string
	// committed says whether a platform's output reported it committed.
	committed []bool
	split     *logline.Splitter
}

func newBuildTracker(platforms []ocispec.Platform, log func(*ocispec.Platform, string)) *buildTracker {
	n := len(platforms)
	t := &buildTracker{platforms: platforms, log: log, cur: -1, steps: make([]string, n), committed: make([]bool, n)}
	if n == 1 {
		t.cur = 0
	}
	t.split = logline.NewSplitter(logline.MaxLine, t.line)
	return t
}

// Write splits the stream into lines, each cut at logline.MaxLine.
func (t *buildTracker) Write(p []byte) (int, error) {
	return t.split.Write(p)
}

// Flush handles a last line without a newline.
func (t *buildTracker) Flush() {
	t.split.Flush()
}

func (t *buildTracker) line(s string) {
	if strings.HasPrefix(s, "[") {
		if end := strings.Index(s, "] "); end > 0 {
			if i := t.platformIndex(s[1:end]); i >= 0 {
				t.cur = i
				s = s[end+2:]
			}
		}
	}
	var p *ocispec.Platform
	if t.cur >= 0 {
		p = &t.platforms[t.cur]
		switch {
		case strings.HasPrefix(s, "STEP "):
			t.steps[t.cur] = strings.TrimPrefix(s, "STEP ")
		case strings.HasPrefix(s, "COMMIT"):
			t.committed[t.cur] = true
		}
	}
	if t.log != nil {
		t.log(p, s)
	}
}

// platformIndex finds the requested platform podman's prefix names.
func (t *buildTracker) platformIndex(s string) int {
	p, err := platform.Parse(s)
	if err != nil {
		return -1
	}
	for i, want := range t.platforms {
		if platform.Format(want) == platform.Format(p) {
			return i
		}
	}
	return -1
}
