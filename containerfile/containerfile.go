// Package containerfile reads what farm needs of a Containerfile on the
// client, once for all engines: the images its FROM lines name (build
// args substituted), the registries they come from, a copy with those
// images replaced (pinning), and .containerignore patterns.
package containerfile

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.podman.io/image/v5/docker/reference"
)

// fromLine matches a FROM instruction and captures its image (after any
// --platform= or other flags).
var fromLine = regexp.MustCompile(`(?i)^\s*FROM\s+(?:--\S+\s+)*(\S+)`)

// argLine matches an ARG instruction with an optional default.
var argLine = regexp.MustCompile(`(?i)^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?`)

// stageName matches the "AS name" of a FROM line.
var stageName = regexp.MustCompile(`(?i)\s+AS\s+(\S+)\s*$`)

// argRef matches $NAME and ${NAME} in a FROM line.
var argRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// From is the image of one FROM instruction.
type From struct {
	// Image is the image with build args (and ARG defaults) substituted.
	Image string
	// line is the line's index; start and end delimit the image in it.
	line, start, end int
}

// File is a Containerfile split into lines, with the FROM lines that name
// images (not earlier stages or scratch).
type File struct {
	lines []string
	// Froms are the FROM images, in order.
	Froms []From
}

// Read reads and parses a Containerfile.
func Read(path string, buildArgs map[string]string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	return Parse(data, buildArgs), nil
}

// Parse parses a Containerfile with the given build args.
func Parse(data []byte, buildArgs map[string]string) File {
	args := map[string]string{}
	stages := map[string]bool{}
	var refs []From
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		if m := argLine.FindStringSubmatch(line); m != nil {
			args[m[1]] = strings.Trim(m[2], `"'`)
			continue
		}
		m := fromLine.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		image := argRef.ReplaceAllStringFunc(line[m[2]:m[3]], func(s string) string {
			name := argRef.FindStringSubmatch(s)[1]
			if v, ok := buildArgs[name]; ok {
				return v
			}
			return args[name]
		})
		isStage := stages[strings.ToLower(image)]
		if as := stageName.FindStringSubmatch(line); as != nil {
			stages[strings.ToLower(as[1])] = true
		}
		if image != "scratch" && !isStage {
			refs = append(refs, From{line: i, start: m[2], end: m[3], Image: image})
		}
	}
	return File{lines: lines, Froms: refs}
}

// WithImages returns the Containerfile with the image of each FROM
// replaced by images[i] (the i-th of Froms); "" keeps it.
func (f File) WithImages(images []string) []byte {
	lines := append([]string(nil), f.lines...)
	for i, r := range f.Froms {
		if i < len(images) && images[i] != "" {
			lines[r.line] = lines[r.line][:r.start] + images[i] + lines[r.line][r.end:]
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// FullyQualified reports whether an image names its registry; short names
// resolve through each node's registries.conf.
func FullyQualified(image string) bool {
	first, _, found := strings.Cut(image, "/")
	return found && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// Registries returns the registries the FROM images come from, sorted.
// Short names need no credentials and are left out (they resolve through
// the node's registries.conf).
func (f File) Registries() []string {
	seen := map[string]bool{}
	for _, r := range f.Froms {
		if !FullyQualified(r.Image) {
			continue
		}
		if n, err := reference.ParseNormalizedNamed(r.Image); err == nil {
			seen[reference.Domain(n)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// ReadIgnoreFile reads .containerignore-style patterns.
func ReadIgnoreFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, sc.Err()
}

// Excludes returns the ignore patterns of a build, the same for every
// engine: those of <Containerfile>.containerignore or
// <Containerfile>.dockerignore beside the Containerfile, else of the
// context's .containerignore or .dockerignore, else none (an empty, not a
// nil, list).
func Excludes(contextDir, containerfile string) ([]string, error) {
	candidates := []string{containerfile + ".containerignore", containerfile + ".dockerignore",
		filepath.Join(contextDir, ".containerignore"), filepath.Join(contextDir, ".dockerignore")}
	for _, path := range candidates {
		patterns, err := ReadIgnoreFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return patterns, err
	}
	return []string{}, nil
}

// mountFlag matches a RUN --mount flag's options.
var mountFlag = regexp.MustCompile(`--mount[= ]([^\s\\]+)`)

// WritableMounts reports whether a RUN step mounts something read-write
// (--mount=...,rw or readwrite): podman before 5.7 mounts the build
// context itself that way, so its RUN steps can write into it. A mount
// whose options name a variable counts as read-write: buildah expands
// build arguments there, so `--build-arg M=rw` could make it one.
func WritableMounts(data []byte) bool {
	for _, m := range mountFlag.FindAllSubmatch(data, -1) {
		if strings.Contains(string(m[1]), "$") {
			return true
		}
		for _, opt := range strings.Split(string(m[1]), ",") {
			switch strings.ToLower(strings.Trim(opt, `"'`)) {
			case "rw", "readwrite", "rw=true", "readwrite=true", "ro=false", "readonly=false":
				return true
			}
		}
	}
	return false
}
