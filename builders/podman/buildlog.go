package podman

import (
	"regexp"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/platform"
)

// fullID matches the image ID podman prints when a build is done.
var fullID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// shortOrFullID matches an image ID as podman abbreviates it or in full.
var shortOrFullID = regexp.MustCompile(`^[0-9a-f]{11,64}$`)

// stepNumbers matches the "n/m: " that starts a step.
var stepNumbers = regexp.MustCompile(`^(\d+)/(\d+): `)

// isFinalStep reports whether a step ("3/3: COPY ...") is the build's last.
func isFinalStep(step string) bool {
	m := stepNumbers.FindStringSubmatch(step)
	return m != nil && m[1] == m[2]
}

// buildTracker reads podman's build output line by line, forwards every
// line to the log with the platform it belongs to, and records per
// platform the last step started and the image committed. With several
// platforms podman prefixes step lines with "[os/arch] " and builds one
// platform after another (jobs=1), so unprefixed lines belong to the
// platform of the last prefixed one.
type buildTracker struct {
	platforms []ocispec.Platform
	log       func(*ocispec.Platform, string)
	cur       int
	steps     []string
	final     []bool
	ids       []string
	// created are the IDs of images this build made (not cache hits);
	// createdFor holds them per platform.
	created    []string
	createdFor [][]string
	partial    []byte
}

func newBuildTracker(platforms []ocispec.Platform, log func(*ocispec.Platform, string)) *buildTracker {
	n := len(platforms)
	t := &buildTracker{platforms: platforms, log: log, cur: -1, steps: make([]string, n), final: make([]bool, n), ids: make([]string, n), createdFor: make([][]string, n)}
	if n == 1 {
		t.cur = 0
	}
	return t
}

// Write splits the stream into lines.
func (t *buildTracker) Write(p []byte) (int, error) {
	t.partial = append(t.partial, p...)
	for {
		i := strings.IndexByte(string(t.partial), '\n')
		if i < 0 {
			break
		}
		t.line(strings.TrimRight(string(t.partial[:i]), "\r"))
		t.partial = t.partial[i+1:]
	}
	return len(p), nil
}

// Flush handles a last line without a newline.
func (t *buildTracker) Flush() {
	if len(t.partial) > 0 {
		t.line(string(t.partial))
		t.partial = nil
	}
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
			t.final[t.cur] = isFinalStep(t.steps[t.cur])
		case strings.HasPrefix(s, "COMMIT"):
			t.final[t.cur] = true
		case strings.HasPrefix(s, "--> ") && shortOrFullID.MatchString(strings.TrimPrefix(s, "--> ")):
			// A new layer image; "--> Using cache ID" lines are not ours.
			id := strings.TrimPrefix(s, "--> ")
			t.created = append(t.created, id)
			t.createdFor[t.cur] = append(t.createdFor[t.cur], id)
			if t.final[t.cur] && t.ids[t.cur] == "" {
				t.ids[t.cur] = id
			}
		case strings.HasPrefix(s, "--> ") && t.final[t.cur] && t.ids[t.cur] == "":
			// After the last step: "--> Using cache FULLID" or "--> SHORTID".
			v := strings.TrimSpace(strings.TrimPrefix(s, "--> "))
			v = strings.TrimPrefix(v, "Using cache ")
			if shortOrFullID.MatchString(v) {
				t.ids[t.cur] = v
			}
		case fullID.MatchString(s) && len(t.platforms) == 1:
			t.ids[0] = s
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
