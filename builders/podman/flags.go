package podman

import (
	"fmt"

	"github.com/blang/semver/v4"

	"github.com/farmbuild/farm/engine"
)

var _ engine.FlagChecker = (*Engine)(nil)

// since is, by flag (engine.Instructions.Flags names them), the first
// podman release whose build API takes it: older servers ignore the
// query parameter (--volume, --retry, --source-date-epoch...) or fail on
// the form the bindings send (--cache-from, --cache-to as lists). Flags
// not listed work on every podman farm supports. docs/build.md has the
// same table for users.
var since = map[string]string{
	"--unsetenv":             "4.0.0",
	"--identity-label":       "4.1.0",
	"--identity-label=false": "4.1.0",
	"--env":                  "4.2.0",
	"--build-context":        "4.2.0",
	"--volume":               "4.4.0",
	"--cache-from":           "4.4.0",
	"--cache-to":             "4.4.0",
	"--retry":                "5.3.0",
	"--retry-delay":          "5.3.0",
	"--source-date-epoch":    "5.6.0",
}

// never is what no podman takes through its API, by flag.
var never = map[string]engine.Refusal{
	// The bindings send --memory-swap only when it is positive.
	"--memory-swap=-1": {Why: "cannot be given unlimited swap through its API", Fix: "give --memory-swap a size"},
}

// Unsupported returns the flags of in that a podman of info.Version
// cannot honour; a version that does not parse is taken for a new one.
func (e *Engine) Unsupported(info engine.EngineInfo, in engine.Instructions) []engine.Refusal {
	return refusals(info.Version, in)
}

func refusals(version string, in engine.Instructions) []engine.Refusal {
	v, verr := semver.ParseTolerant(version)
	var out []engine.Refusal
	for _, f := range in.Flags() {
		if r, ok := never[f]; ok {
			r.Flag = f
			out = append(out, r)
			continue
		}
		first, ok := since[f]
		if !ok || verr != nil || v.GTE(semver.MustParse(first)) {
			continue
		}
		out = append(out, engine.Refusal{Flag: f,
			Why: fmt.Sprintf("runs podman %s, whose build API does not take %s (podman %s and later do)", version, f, first),
			Fix: "drop it or build on newer podman nodes"})
	}
	return out
}
