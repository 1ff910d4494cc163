package docker

import (
	"fmt"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
)

var _ engine.FlagChecker = (*Engine)(nil)

// unsupported is what a docker node cannot honour as farm drives it, by
// flag (engine.Instructions.Flags names them): why, and whether only with
// BuildKit (which farm uses from API 1.39, Docker 18.09, on) while the
// classic builder honours it. A flag not listed is honoured. docs/build.md
// has the same table for users.
var unsupported = map[string]struct {
	why      string
	buildKit bool
	fix      string
}{
	"--secret":            {why: "needs a BuildKit session offering secrets, and farm's session offers docker nodes only the build context"},
	"--annotation":        {why: "cannot annotate images (docker's image builder has no annotations)"},
	"--network NAME":      {why: "builds with BuildKit, which takes only host or none as --network", buildKit: true},
	"--pull=never":        {why: "has no never-pull policy (it pulls a missing base image)"},
	"--rm=false":          {why: "builds with BuildKit, which keeps no intermediate containers", buildKit: true},
	"--force-rm=false":    {why: "builds with BuildKit, which keeps no intermediate containers", buildKit: true},
	"--layers=false":      {why: "always caches layers", fix: "use --no-cache instead, or build on podman nodes"},
	"--squash":            {why: "cannot squash"},
	"--squash-all":        {why: "cannot squash"},
	"--memory":            {why: "builds with BuildKit, which ignores --memory", buildKit: true},
	"--memory-swap":       {why: "builds with BuildKit, which ignores --memory-swap", buildKit: true},
	"--memory-swap=-1":    {why: "builds with BuildKit, which ignores --memory-swap", buildKit: true},
	"--cpu-shares":        {why: "builds with BuildKit, which ignores --cpu-shares", buildKit: true},
	"--cpu-quota":         {why: "builds with BuildKit, which ignores --cpu-quota", buildKit: true},
	"--cpu-period":        {why: "builds with BuildKit, which ignores --cpu-period", buildKit: true},
	"--cpuset-cpus":       {why: "builds with BuildKit, which ignores --cpuset-cpus", buildKit: true},
	"--cpuset-mems":       {why: "builds with BuildKit, which ignores --cpuset-mems", buildKit: true},
	"--cgroup-parent":     {why: "builds with BuildKit, which ignores --cgroup-parent", buildKit: true},
	"--cache-to":          {why: "cannot export a build cache through its build API"},
	"--env":               {why: "cannot set the image's environment from the command line", fix: "use ENV in the Containerfile, or build on podman nodes"},
	"--unsetenv":          {why: "cannot unset the image's environment from the command line", fix: "drop it or build on podman nodes"},
	"--volume":            {why: "cannot bind-mount into RUN steps"},
	"--security-opt":      {why: "refuses security options for builds on Linux"},
	"--cap-add":           {why: "cannot change the RUN steps' capabilities"},
	"--cap-drop":          {why: "cannot change the RUN steps' capabilities"},
	"--dns":               {why: "cannot set the RUN steps' DNS servers"},
	"--dns-option":        {why: "cannot set the RUN steps' DNS options"},
	"--dns-search":        {why: "cannot set the RUN steps' DNS search domains"},
	"--build-context":     {why: "cannot take additional build contexts through its build API"},
	"--retry":             {why: "has no pull retry setting"},
	"--retry-delay":       {why: "has no pull retry setting"},
	"--source-date-epoch": {why: "cannot set the image's timestamps"},
	"--timestamp":         {why: "cannot set the image's timestamps"},
	"--identity-label":    {why: "adds no identity label (io.buildah.version)"},
}

// Unsupported returns the flags of in that this node cannot honour.
func (e *Engine) Unsupported(_ engine.EngineInfo, in engine.Instructions) []engine.Refusal {
	return refusals(e.buildKit(), in)
}

// refusals is Unsupported for an engine that builds with BuildKit or not.
func refusals(buildKit bool, in engine.Instructions) []engine.Refusal {
	var out []engine.Refusal
	for _, f := range in.Flags() {
		u, ok := unsupported[f]
		if !ok || (u.buildKit && !buildKit) {
			continue
		}
		fix := u.fix
		if fix == "" {
			fix = "drop it or build on podman nodes"
		}
		out = append(out, engine.Refusal{Flag: f, Why: u.why, Fix: fix})
	}
	return out
}

// refuse fails every platform of req when this node cannot honour one of
// its flags; farm asks before any build, this is the last word.
func (e *Engine) refuse(req engine.NodeBuild) error {
	rs := refusals(e.buildKit(), req.Instructions)
	if len(rs) == 0 {
		return nil
	}
	return e.failAll(req, fmt.Errorf("%w: %s", errdefs.ErrUsage, rs[0].Message(Kind, e.conn.Node())))
}
