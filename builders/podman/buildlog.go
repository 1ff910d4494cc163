package podman

import (
	"regexp"
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
	// userArgs are the build args the user gave.
	userArgs map[string]bool
	split    *logline.Splitter
}

func newBuildTracker(platforms []ocispec.Platform, userArgs map[string]string, log func(*ocispec.Platform, string)) *buildTracker {
	n := len(platforms)
	t := &buildTracker{platforms: platforms, log: log, cur: -1, steps: make([]string, n), committed: make([]bool, n)}
	if n == 1 {
		t.cur = 0
	}
	t.userArgs = map[string]bool{}
	for k := range userArgs {
		t.userArgs[k] = true
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
	prefixed := false
	if strings.HasPrefix(s, "[") {
		if end := strings.Index(s, "] "); end > 0 {
			if i := t.platformIndex(s[1:end]); i >= 0 {
				t.cur, prefixed = i, true
				s = s[end+2:]
			}
		}
	}
	if t.noise(s) {
		return
	}
	var p *ocispec.Platform
	if t.cur >= 0 && (prefixed || !t.nodeLine(s)) {
		p = &t.platforms[t.cur]
		switch {
		case strings.HasPrefix(s, "STEP "):
			t.steps[t.cur] = strings.TrimPrefix(s, "STEP ")
		case strings.HasPrefix(s, "COMMIT"):
			t.committed[t.cur] = true
		case strings.HasPrefix(s, "--> ") && t.committed[t.cur] && len(t.platforms) > 1:
			// The platform's last line: what follows unprefixed, until
			// the next platform starts, is the build's.
			t.cur = -1
		}
	}
	if t.log != nil {
		t.log(p, s)
	}
}

// fullID matches an image ID in full.
var fullID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// nodeLine reports whether an unprefixed line of a build of several
// platforms belongs to the build rather than to the platform being built:
// podman prints a finished platform's image ID, and its warnings, while
// the next platform runs.
func (t *buildTracker) nodeLine(s string) bool {
	return len(t.platforms) > 1 && (fullID.MatchString(s) || strings.HasPrefix(s, "[Warning] "))
}

// unconsumedArgs matches podman's warning about build args no step used.
var unconsumedArgs = regexp.MustCompile(`^\[Warning\] one or more build args were not consumed: \[(.*)\]$`)

// automaticArgs are the build args podman sets itself for every platform.
var automaticArgs = map[string]bool{"TARGETARCH": true, "TARGETOS": true, "TARGETPLATFORM": true, "TARGETVARIANT": true,
	"BUILDARCH": true, "BUILDOS": true, "BUILDPLATFORM": true, "BUILDVARIANT": true}

// noise reports whether a line is podman 4's warning that the platform
// build args it set itself went unused: nothing the user did.
func (t *buildTracker) noise(s string) bool {
	m := unconsumedArgs.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	for _, arg := range strings.Fields(m[1]) {
		if !automaticArgs[arg] || t.userArgs[arg] {
			return false
		}
	}
	return true
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
