package podman

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Outputs recorded from podman 4.3.1 multi-platform builds.
const twoPlatformsCachedAndFailed = `[linux/arm64] STEP 1/2: FROM base
[linux/arm64] STEP 2/2: RUN test "$(uname -m)" = x86_64 || { echo "not on x86"; exit 3; }
not on x86
[linux/amd64] STEP 1/2: FROM base
[linux/amd64] STEP 2/2: RUN test "$(uname -m)" = x86_64 || { echo "not on x86"; exit 3; }
--> Using cache 4c0351c770f53c06ed55329f26b8487bd872b35700edccb524f230dc1fc4f019
--> 4c0351c770f
[Warning] one or more build args were not consumed: [TARGETARCH TARGETOS TARGETPLATFORM]
4c0351c770f53c06ed55329f26b8487bd872b35700edccb524f230dc1fc4f019
`

const twoPlatformsCommitted = `[linux/arm64] STEP 1/3: FROM base
[linux/arm64] STEP 2/3: RUN uname -m > /arch && echo built-on-$(uname -m)
built-on-aarch64
--> 16171158d5e
[linux/arm64] STEP 3/3: COPY hello.txt /hello.txt
[linux/arm64] COMMIT
--> ca0ea34c629
[linux/amd64] STEP 1/3: FROM base
[Warning] one or more build args were not consumed: [TARGETARCH TARGETOS TARGETPLATFORM]
ca0ea34c629d9843f0f7583982ef930a9d4e9451a1d534909c8d562de03482cc
[linux/amd64] STEP 2/3: RUN uname -m > /arch && echo built-on-$(uname -m)
built-on-x86_64
--> 8d7970588af
[linux/amd64] STEP 3/3: COPY hello.txt /hello.txt
[linux/amd64] COMMIT
--> 146dd59ec96
146dd59ec969256d404146777d7103e7e2cadf9ab3cba4e51f97f6b0c3d849c2
`

const onePlatform = `STEP 1/2: FROM base
STEP 2/2: RUN echo hi
hi
COMMIT
--> 0123456789a
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`

func TestBuildTracker(t *testing.T) {
	tests := []struct {
		name, output, platforms string
		steps                   string
		logged                  string
	}{
		{"cached amd64, failed arm64", twoPlatformsCachedAndFailed, "linux/arm64,linux/amd64",
			`2/2: RUN test "$(uname -m)" = x86_64 || { echo "not on x86"; exit 3; }|2/2: RUN test "$(uname -m)" = x86_64 || { echo "not on x86"; exit 3; }`,
			"linux/arm64:not on x86"},
		{"both committed", twoPlatformsCommitted, "linux/amd64,linux/arm64/v8",
			"3/3: COPY hello.txt /hello.txt|3/3: COPY hello.txt /hello.txt",
			"linux/arm64:built-on-aarch64"},
		{"single platform", onePlatform, "linux/s390x", "2/2: RUN echo hi", "linux/s390x:hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []ocispec.Platform
			for _, s := range strings.Split(tt.platforms, ",") {
				ps = append(ps, platforms.MustParse(s))
			}
			var logged []string
			tr := newBuildTracker(ps, nil, func(p *ocispec.Platform, line string) {
				if p != nil {
					logged = append(logged, fmt.Sprintf("%s/%s:%s", p.OS, p.Architecture, line))
				}
			})
			// Feed in uneven chunks, as the API stream does.
			for i := 0; i < len(tt.output); i += 7 {
				_, _ = tr.Write([]byte(tt.output[i:min(i+7, len(tt.output))]))
			}
			tr.Flush()
			if got := strings.Join(tr.steps, "|"); got != tt.steps {
				t.Errorf("steps = %q, want %q", got, tt.steps)
			}
			if !strings.Contains(strings.Join(logged, "\n"), tt.logged) {
				t.Errorf("log lacks %q:\n%s", tt.logged, strings.Join(logged, "\n"))
			}
			for _, l := range logged {
				if strings.Contains(l, ":[linux/") {
					t.Errorf("podman's own prefix must be stripped: %s", l)
				}
			}
		})
	}
}

func TestBuildTrackerCutsLongLines(t *testing.T) {
	var longest int
	tr := newBuildTracker([]ocispec.Platform{platforms.MustParse("linux/amd64")}, nil, func(_ *ocispec.Platform, line string) {
		longest = max(longest, len(line))
	})
	chunk := []byte(strings.Repeat("x", 1<<16))
	for range 128 { // 8 MiB without a newline
		_, _ = tr.Write(chunk)
	}
	tr.Flush()
	if longest == 0 || longest > 65<<10 {
		t.Errorf("a line without an end must be cut at about 64 KiB, got %d bytes", longest)
	}
}

func TestBuildTrackerFilesLinesUnderTheirPlatform(t *testing.T) {
	// podman 4.3.1 prints arm64's image ID, and a warning, after amd64
	// started: neither is amd64's.
	ps := []ocispec.Platform{platforms.MustParse("linux/arm64"), platforms.MustParse("linux/amd64")}
	byPlatform := map[string][]string{}
	tr := newBuildTracker(ps, nil, func(p *ocispec.Platform, line string) {
		key := "build"
		if p != nil {
			key = p.Architecture
		}
		byPlatform[key] = append(byPlatform[key], line)
	})
	_, _ = tr.Write([]byte(twoPlatformsCommitted))
	tr.Flush()
	for _, l := range byPlatform["amd64"] {
		if strings.HasPrefix(l, "ca0ea34c629d") {
			t.Errorf("arm64's image ID was filed under amd64: %v", byPlatform["amd64"])
		}
	}
	if !slices.Contains(byPlatform["build"], "ca0ea34c629d9843f0f7583982ef930a9d4e9451a1d534909c8d562de03482cc") {
		t.Errorf("the ID line belongs to the build: %v", byPlatform)
	}
	for _, lines := range byPlatform {
		for _, l := range lines {
			if strings.Contains(l, "build args were not consumed") {
				t.Errorf("podman's warning about the platform args it set itself is noise: %q", l)
			}
		}
	}
	// A build arg the user gave and no step used is worth the warning.
	var warned bool
	tr = newBuildTracker(ps, map[string]string{"TARGETARCH": "x"}, func(_ *ocispec.Platform, line string) {
		warned = warned || strings.Contains(line, "not consumed")
	})
	_, _ = tr.Write([]byte(twoPlatformsCommitted))
	if !warned {
		t.Error("the warning must stay when the user set one of the args")
	}
}
