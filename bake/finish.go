package bake

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// finish turns a resolved spec into a Target: defaults filled (context
// ".", dockerfile "Dockerfile"), lists without duplicates, paths
// resolved. A linked target (built only because another depends on it)
// outputs nothing, as buildx's type=cacheonly.
func finish(t *spec, linked bool, opts Options) *Target {
	out := &Target{
		Name: t.name, Context: ".", Dockerfile: "Dockerfile",
		Args: maps.Clone(t.args), Labels: maps.Clone(t.labels), Contexts: maps.Clone(t.contexts),
		Annotations: dedupe(t.annotations), Tags: dedupe(t.tags), Platforms: dedupe(t.platforms),
		Secrets: slices.Clone(t.secrets), Outputs: slices.Clone(t.outputs), Linked: linked,
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	out.Description, out.DockerfileInline, out.Stage = str(t.description), str(t.dockerfileInline), str(t.stage)
	out.Pull, out.NoCache = t.pull != nil && *t.pull, t.noCache != nil && *t.noCache
	if t.context != nil {
		out.Context = *t.context
		if opts.FileRelativePaths {
			out.Context = rebase(t.base["context"], out.Context)
		}
	} else if opts.FileRelativePaths {
		out.Context = rebase(t.blockBase, ".")
	}
	if t.dockerfile != nil && *t.dockerfile != "" {
		out.Dockerfile = *t.dockerfile
	}
	if linked {
		out.Outputs = []Output{{Type: "cacheonly"}}
	}
	for k, v := range out.Contexts {
		if v == "" {
			delete(out.Contexts, k)
		} else if opts.FileRelativePaths {
			out.Contexts[k] = rebase(t.base["contexts."+k], v)
		}
	}
	if len(out.Contexts) == 0 {
		out.Contexts = nil
	}

	// What a runner needs: absolute paths, kinds, dependencies.
	if !isRemote(out.Context) {
		out.ContextDir = absolute(opts.Dir, strings.TrimPrefix(out.Context, "cwd://"))
		switch {
		case out.DockerfileInline != "":
		case strings.HasPrefix(out.Dockerfile, "cwd://"):
			out.ContainerfilePath = absolute(opts.Dir, strings.TrimPrefix(out.Dockerfile, "cwd://"))
		default:
			out.ContainerfilePath = absolute(out.ContextDir, out.Dockerfile)
		}
	}
	if len(out.Contexts) > 0 {
		out.NamedContexts = map[string]NamedContext{}
	}
	for k, v := range out.Contexts {
		nc := namedContext(v, opts.Dir)
		out.NamedContexts[k] = nc
		if nc.Kind == ContextTarget && !slices.Contains(out.Deps, nc.Value) {
			out.Deps = append(out.Deps, nc.Value)
		}
	}
	slices.Sort(out.Deps)
	return out
}

// namedContext tells what a contexts value is.
func namedContext(v, dir string) NamedContext {
	if name, ok := strings.CutPrefix(v, "target:"); ok {
		return NamedContext{Kind: ContextTarget, Value: name}
	}
	if ref, ok := strings.CutPrefix(v, "docker-image://"); ok {
		return NamedContext{Kind: ContextImage, Value: ref}
	}
	if ref, ok := strings.CutPrefix(v, "oci-layout://"); ok {
		return NamedContext{Kind: ContextOCILayout, Value: ref}
	}
	if isRemote(v) {
		return NamedContext{Kind: ContextURL, Value: v}
	}
	return NamedContext{Kind: ContextLocal, Value: absolute(dir, strings.TrimPrefix(v, "cwd://"))}
}

// isRemote says whether a context is a URL (a Git repository or an
// HTTP resource) rather than a local path.
func isRemote(s string) bool {
	if strings.HasPrefix(s, "cwd://") {
		return false
	}
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "github.com/")
}

// rebase puts a relative local path under base (FileRelativePaths).
func rebase(base, p string) string {
	if base == "" || p == "" || filepath.IsAbs(p) || isRemote(p) || strings.HasPrefix(p, "cwd://") ||
		strings.HasPrefix(p, "target:") || strings.HasPrefix(p, "docker-image:") || strings.HasPrefix(p, "oci-layout://") {
		return p
	}
	return filepath.ToSlash(filepath.Join(base, filepath.FromSlash(p)))
}

// absolute resolves p against dir.
func absolute(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// dedupe drops empty and repeated values, keeping the order.
func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
