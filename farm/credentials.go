package farm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/docker/config"
	"go.podman.io/image/v5/types"
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

// fromRef is the image of one FROM instruction.
type fromRef struct {
	// line is the line's index; start and end delimit the image in it.
	line, start, end int
	// image is the image with build args (and ARG defaults) substituted.
	image string
}

// parseFroms splits a Containerfile into lines and finds the FROM lines
// that name images (not earlier stages or scratch).
func parseFroms(data []byte, buildArgs map[string]string) ([]string, []fromRef) {
	args := map[string]string{}
	stages := map[string]bool{}
	var refs []fromRef
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
			refs = append(refs, fromRef{line: i, start: m[2], end: m[3], image: image})
		}
	}
	return lines, refs
}

// fullyQualified reports whether an image names its registry; short names
// resolve through each node's registries.conf.
func fullyQualified(image string) bool {
	first, _, found := strings.Cut(image, "/")
	return found && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// BaseRegistries returns the registries the Containerfile's FROM images
// come from, with build args (and ARG defaults) substituted. Stage names
// and "scratch" are skipped; short names need no credentials and are left
// out too (they resolve through the node's registries.conf).
func BaseRegistries(containerfile string, buildArgs map[string]string) ([]string, error) {
	data, err := os.ReadFile(containerfile)
	if err != nil {
		return nil, err
	}
	_, refs := parseFroms(data, buildArgs)
	seen := map[string]bool{}
	for _, r := range refs {
		if !fullyQualified(r.image) {
			continue
		}
		if n, err := reference.ParseNormalizedNamed(r.image); err == nil {
			seen[reference.Domain(n)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

// Credentials returns the client's credentials for one registry from
// authFile ("" for the default locations); empty when there are none.
func Credentials(authFile, registry string) (types.DockerAuthConfig, error) {
	sys := &types.SystemContext{AuthFilePath: authFile}
	c, err := config.GetCredentials(sys, registry)
	if err != nil {
		return types.DockerAuthConfig{}, fmt.Errorf("reading credentials for %s: %w", registry, err)
	}
	return c, nil
}

// WriteAuthSubset writes, into dir, an auth file holding only the
// client's credentials for the given registries, and returns its path. A
// node gets exactly the credentials its build needs.
func WriteAuthSubset(dir, authFile string, registries []string) (string, error) {
	type entry struct {
		Auth string `json:"auth"`
	}
	auths := map[string]entry{}
	for _, r := range registries {
		c, err := Credentials(authFile, r)
		if err != nil {
			return "", err
		}
		if c.Username == "" && c.IdentityToken == "" {
			continue
		}
		if c.IdentityToken != "" {
			return "", fmt.Errorf("credentials for %s are an identity token, which farm cannot forward yet: log in with a username and password", r)
		}
		auths[r] = entry{Auth: base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))}
	}
	data, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "auth-*.json")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", err
	}
	return filepath.Clean(f.Name()), f.Close()
}
