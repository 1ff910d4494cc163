// Package bake reads build definitions in the forms docker buildx bake
// reads (docker-bake.hcl, its JSON form, compose files) into a resolved,
// validated set of targets with their dependency order. It is pure: it
// reads the files it is given and the environment it is passed, and never
// contacts a node. docs/bake.md lists the supported subset.
package bake

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Definition is a resolved bake definition: the targets to build, the
// groups that were asked for, and an order to build the targets in.
type Definition struct {
	// Groups are the groups asked for (and the groups they name), and a
	// "default" group listing what was asked for, as buildx prints them.
	Groups map[string]*Group `json:"group,omitempty"`
	// Targets are the targets asked for and the targets they depend on.
	Targets map[string]*Target `json:"target"`
	// Order lists every target of Targets once, each after the targets it
	// depends on.
	Order []string `json:"-"`
}

// Group is a named list of targets and groups.
type Group struct {
	// Description is the group's description, if any.
	Description string `json:"description,omitempty"`
	// Targets names the group's targets and groups.
	Targets []string `json:"targets"`
}

// Target is one image to build, resolved: inherited fields merged in,
// --set values applied, defaults filled. The JSON fields are buildx's
// --print shape, with paths as written; the others are for a runner.
type Target struct {
	// Name is the target's name.
	Name string `json:"-"`
	// Description is the target's description, if any.
	Description string `json:"description,omitempty"`
	// Annotations are KEY=VALUE annotations of the image (buildx's
	// optional "type:" prefix kept).
	Annotations []string `json:"annotations,omitempty"`
	// Context is the build context as written: a directory, or a URL.
	Context string `json:"context"`
	// Contexts are the named build contexts as written: a directory,
	// docker-image://REF, target:NAME, oci-layout://..., or a URL.
	Contexts map[string]string `json:"contexts,omitempty"`
	// Dockerfile is the Containerfile as written, relative to the context
	// unless absolute.
	Dockerfile string `json:"dockerfile"`
	// DockerfileInline is the Containerfile itself, when given inline; it
	// takes precedence over Dockerfile.
	DockerfileInline string `json:"dockerfile-inline,omitempty"`
	// Args are the build arguments.
	Args map[string]string `json:"args,omitempty"`
	// Labels are the image labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Tags name the result.
	Tags []string `json:"tags,omitempty"`
	// Stage is the Containerfile stage to build ("target" in the file).
	Stage string `json:"target,omitempty"`
	// Secrets are the build secrets.
	Secrets []Secret `json:"secret,omitempty"`
	// Platforms are the platforms to build, as written.
	Platforms []string `json:"platforms,omitempty"`
	// Outputs say where the result goes.
	Outputs []Output `json:"output,omitempty"`
	// Pull always pulls the base images.
	Pull bool `json:"pull,omitempty"`
	// NoCache builds without the layer cache.
	NoCache bool `json:"no-cache,omitempty"`

	// Linked is true for a target built only because another target
	// names it in its contexts: its result is not output (buildx gives it
	// the output type=cacheonly).
	Linked bool `json:"-"`
	// Deps are the targets this one names as target:NAME contexts,
	// sorted.
	Deps []string `json:"-"`
	// ContextDir is the context's absolute directory, "" when the
	// context is a URL.
	ContextDir string `json:"-"`
	// ContainerfilePath is the Containerfile's absolute path, "" when it
	// is inline or the context is a URL.
	ContainerfilePath string `json:"-"`
	// NamedContexts are Contexts, resolved.
	NamedContexts map[string]NamedContext `json:"-"`
}

// MarshalJSON writes a target as buildx's --print does: "${" and "%{"
// in args, labels, annotations and an inline Containerfile escaped, so
// that the output reads back as a bake JSON file with the same values.
func (t *Target) MarshalJSON() ([]byte, error) {
	type plain Target
	c := plain(*t)
	esc := strings.NewReplacer("${", "$${", "%{", "%%{").Replace
	c.DockerfileInline = esc(c.DockerfileInline)
	c.Annotations = slices.Clone(c.Annotations)
	for i, v := range c.Annotations {
		c.Annotations[i] = esc(v)
	}
	for _, m := range []*map[string]string{&c.Args, &c.Labels} {
		*m = maps.Clone(*m)
		for k, v := range *m {
			(*m)[k] = esc(v)
		}
	}
	return json.Marshal(c)
}

// ContextKind says what a named context is.
type ContextKind string

// The kinds of named contexts.
const (
	// ContextLocal is a local directory.
	ContextLocal ContextKind = "local"
	// ContextImage is an image reference (docker-image://REF).
	ContextImage ContextKind = "image"
	// ContextTarget is another target's result for the same platform
	// (target:NAME).
	ContextTarget ContextKind = "target"
	// ContextOCILayout is an image in an OCI layout (oci-layout://...).
	ContextOCILayout ContextKind = "oci-layout"
	// ContextURL is a remote context: a Git repository or an HTTP URL.
	ContextURL ContextKind = "url"
)

// NamedContext is a named build context, resolved.
type NamedContext struct {
	// Kind says what Value is.
	Kind ContextKind
	// Value is the absolute directory (local), the image reference
	// (image), the target's name (target), or the value as written
	// without its scheme (oci-layout) or with it (url).
	Value string
}

// Secret is a build secret: a file or an environment variable of the
// client, given to the build under ID.
type Secret struct {
	// ID is the secret's name in the build (RUN --mount=type=secret,id=ID).
	ID string `json:"id"`
	// Src is the file that holds it, if it comes from a file.
	Src string `json:"src,omitempty"`
	// Env is the environment variable that holds it, if it comes from one.
	Env string `json:"env,omitempty"`
}

// Output is an output as buildx writes it: type=TYPE,dest=DEST,KEY=VALUE...
type Output struct {
	// Type is the output's type: registry, image, oci, docker, cacheonly...
	Type string
	// Dest is its destination, if any.
	Dest string
	// Attrs are its other attributes.
	Attrs map[string]string
}

// MarshalJSON writes an output as one object, as buildx prints it.
func (o Output) MarshalJSON() ([]byte, error) {
	m := maps.Clone(o.Attrs)
	if m == nil {
		m = map[string]string{}
	}
	m["type"] = o.Type
	if o.Dest != "" {
		m["dest"] = o.Dest
	}
	return json.Marshal(m)
}
