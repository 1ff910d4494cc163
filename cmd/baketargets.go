package cmd

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/farmbuild/farm/bake"
	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/platform"
)

// bakeTarget is one target of a farm bake run, turned into a farm build:
// its options, and its target: contexts (context name to target).
type bakeTarget struct {
	name string
	opts farm.BuildOptions
	// links are its target:NAME contexts, by context name.
	links map[string]string
}

// targetBuilds turns the definition's targets into farm builds, in
// dependency order, checking everything the client can check; tmp holds
// inline Containerfiles.
func targetBuilds(def *bake.Definition, opts *bakeOptions, tmp string) ([]bakeTarget, error) {
	needed := map[string]bool{}
	for _, t := range def.Targets {
		for _, d := range t.Deps {
			needed[d] = true
		}
	}
	outputs := 0
	for _, t := range def.Targets {
		if !t.Linked {
			outputs++
		}
	}
	var out []bakeTarget
	for _, name := range def.Order {
		t := def.Targets[name]
		bt, err := targetBuild(t, opts, tmp, outputs > 1)
		if err != nil {
			return nil, usageError{fmt.Errorf("target %q: %w", name, err)}
		}
		if needed[name] {
			// Its result is given to its dependents on the nodes that
			// built it, which only podman can take as a named context.
			bt.opts.Engines = []string{"podman"}
		}
		out = append(out, bt)
	}
	return out, nil
}

// targetBuild turns one target into a farm build.
func targetBuild(t *bake.Target, opts *bakeOptions, tmp string, manyOutputs bool) (bakeTarget, error) {
	bt := bakeTarget{name: t.Name, links: map[string]string{}}
	if t.ContextDir == "" {
		return bt, fmt.Errorf("context %q is not a local directory: farm bake builds local contexts only", t.Context)
	}
	bo := farm.BuildOptions{ContextDir: t.ContextDir, Containerfile: t.ContainerfilePath, Tags: t.Tags,
		Tests: opts.tests, PinBase: opts.pinBase, KeepGoing: opts.keepGoing, AllowPartial: opts.allowParts}
	if _, err := os.Stat(bo.Containerfile); err != nil && t.Dockerfile == "Dockerfile" && filepath.Base(bo.Containerfile) == "Dockerfile" {
		// farm build's rule: the context's Containerfile, else Dockerfile.
		if alt := filepath.Join(filepath.Dir(bo.Containerfile), "Containerfile"); fileExists(alt) {
			bo.Containerfile = alt
		}
	}
	if t.DockerfileInline != "" {
		path := filepath.Join(tmp, t.Name+".Containerfile")
		if err := os.WriteFile(path, []byte(t.DockerfileInline), 0o600); err != nil {
			return bt, err
		}
		bo.Containerfile = path
	}
	if len(t.Platforms) > 0 {
		ps, err := platform.ParseList(strings.Join(t.Platforms, ","))
		if err != nil {
			return bt, err
		}
		bo.Platforms = ps
	}
	in := engine.Instructions{BuildArgs: t.Args, Annotations: t.Annotations, Target: t.Stage, NoCache: t.NoCache, Pull: "missing", Format: "oci"}
	if t.Pull {
		in.Pull = "always"
	}
	for _, k := range slices.Sorted(maps.Keys(t.Labels)) {
		in.Labels = append(in.Labels, k+"="+t.Labels[k])
	}
	for _, s := range t.Secrets {
		if s.Src == "" {
			return bt, fmt.Errorf("secret %q: only secrets from files (src=) are supported yet, not env=", s.ID)
		}
		in.Secrets = append(in.Secrets, "id="+s.ID+",src="+s.Src)
	}
	for _, name := range slices.Sorted(maps.Keys(t.NamedContexts)) {
		c := t.NamedContexts[name]
		switch c.Kind {
		case bake.ContextTarget:
			bt.links[name] = c.Value
			continue
		case bake.ContextImage:
			c.Value = "docker-image://" + c.Value
		case bake.ContextURL:
		case bake.ContextLocal:
			return bt, fmt.Errorf("contexts.%s: %s is a local directory, which farm does not send to the nodes: COPY it from the main context, or give an image (docker-image://REF) or a URL", name, c.Value)
		default:
			return bt, fmt.Errorf("contexts.%s: %s contexts are not supported yet: give an image (docker-image://REF), a URL or target:NAME", name, c.Kind)
		}
		if in.BuildContexts == nil {
			in.BuildContexts = map[string]string{}
		}
		in.BuildContexts[name] = c.Value
	}
	if len(bt.links) > 0 && t.Pull {
		return bt, fmt.Errorf("pull = true cannot be used with a target: context yet (its image is on the node that built it, in no registry)")
	}
	bo.Instructions = in
	var err error
	if bo.Output, err = targetOutput(t, opts, manyOutputs); err != nil {
		return bt, err
	}
	bt.opts = bo
	return bt, nil
}

// targetOutput is where a target's result goes: --push or --output for
// every target output, else the target's own output; a target built only
// for its dependents, or without tags, stays on its nodes.
func targetOutput(t *bake.Target, opts *bakeOptions, manyOutputs bool) (farm.Output, error) {
	switch {
	case t.Linked:
		return farm.Keep{}, nil
	case opts.push:
		if len(t.Tags) == 0 {
			return nil, fmt.Errorf("--push: the target has no tags to push to")
		}
		return farm.Push{}, nil
	case opts.output != "":
		dest, err := parseOutput(opts.output)
		if err != nil {
			return nil, err
		}
		if manyOutputs {
			dest = filepath.Join(dest, t.Name)
		}
		return farm.OCILayout{Dir: dest}, nil
	}
	if len(t.Outputs) > 1 {
		return nil, fmt.Errorf("output: farm bake takes one output per target")
	}
	if len(t.Outputs) == 1 {
		o := t.Outputs[0]
		switch {
		case o.Type == "cacheonly":
			return farm.Keep{}, nil
		case o.Type == "registry" || (o.Type == "image" && o.Attrs["push"] == "true"):
			if len(t.Tags) == 0 {
				return nil, fmt.Errorf("output type=%s: the target has no tags to push to", o.Type)
			}
			return farm.Push{}, nil
		case o.Type == "oci" && o.Dest != "" && len(o.Attrs) == 0:
			return farm.OCILayout{Dir: o.Dest}, nil
		case o.Type != "image" && o.Type != "docker":
			return nil, fmt.Errorf("output type=%s: use registry, image, docker, oci (with dest) or cacheonly", o.Type)
		}
	}
	if len(t.Tags) == 0 {
		return farm.Keep{}, nil
	}
	return nil, nil // the local podman: the caller opens it
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
