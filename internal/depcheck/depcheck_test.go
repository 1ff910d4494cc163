// Package depcheck checks the import boundaries docs/development.md
// draws: each package's dependencies (direct and indirect) are listed
// with `go list -deps` and must not include the packages it may not use.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/farmbuild/farm/"

// tags are the build tags farm is built with.
const tags = "remote exclude_graphdriver_btrfs containers_image_openpgp"

// forbidden maps a package pattern to what it must not depend on.
var forbidden = map[string][]string{
	"./errdefs":                {module},
	"./logline":                {module},
	"./platform":               {module + "containerfile", module + "transport", module + "engine", module + "builders", module + "config", module + "records", module + "farm", module + "manifest", module + "schedule"},
	"./schedule":               {module + "transport", module + "engine", module + "builders", module + "config", module + "records", module + "farm", module + "manifest"},
	"./manifest":               {module + "transport", module + "engine", module + "builders", module + "config", module + "records", module + "farm"},
	"./bake":                   {module + "transport", module + "engine", module + "builders", module + "config", module + "records", module + "farm", module + "manifest", module + "schedule", module + "containerfile", module + "logline", module + "cmd"},
	"./buildcontext":           {module + "transport", module + "engine", module + "builders", module + "config", module + "records", module + "farm", module + "manifest"},
	"./buildcontext/nodecache": {module + "transport", module + "engine", module + "builders", module + "config", module + "records", module + "farm", module + "manifest"},
	"./containerfile":          {module + "transport", module + "engine", module + "builders", module + "config", module + "records", module + "farm"},
	"./engine":                 {module + "transport", module + "builders", module + "config", module + "records", module + "farm"},
	"./transport":              {module + "engine", module + "builders", module + "config", module + "records", module + "farm"},
	"./records":                {module + "transport", module + "engine", module + "builders", module + "config", module + "farm"},
	"./config":                 {module + "engine", module + "builders", module + "records", module + "farm"},
	"./builders/...":           {module + "records", module + "config", module + "farm", "modernc.org/sqlite"},
	"./farm":                   {module + "builders", module + "cmd", module + "records", "modernc.org/sqlite"},
}

func deps(t *testing.T, pattern string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-tags", tags, "-deps", pattern)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pattern, err)
	}
	return strings.Fields(string(out))
}

func TestImportBoundaries(t *testing.T) {
	for pattern, bad := range forbidden {
		self := module + strings.TrimSuffix(strings.TrimPrefix(pattern, "./"), "/...")
		for _, d := range deps(t, pattern) {
			if d == self || strings.HasPrefix(d, self+"/") {
				continue
			}
			for _, b := range bad {
				if d == b || strings.HasPrefix(d, strings.TrimSuffix(b, "/")+"/") || (strings.HasSuffix(b, "/") && strings.HasPrefix(d, b)) {
					t.Errorf("%s depends on %s, which it may not (docs/development.md)", pattern, d)
				}
			}
		}
	}
}
