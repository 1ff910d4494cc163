package cmd

import (
	"fmt"
	"os"
	"strings"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/platform"
)

// toFarm maps the flags to the library's options; changed says which
// flags the command line gave.
func (opts *buildOptions) toFarm(contextDir string, changed func(string) bool) (farm.BuildOptions, error) {
	bo := farm.BuildOptions{
		ContextDir: contextDir, Containerfile: opts.file, IgnoreFile: opts.ignorefile, Tags: opts.tags,
		Instructions: engine.Instructions{Labels: opts.labels, Annotations: opts.annotations, Target: opts.target,
			Network: opts.network, NoCache: opts.noCache, Pull: opts.pull, Secrets: opts.secrets, Format: opts.format},
		AuthFile:  opts.authfile,
		KeepGoing: opts.keepGoing, Cleanup: opts.cleanup, ConnectTimeout: opts.connectTimeout,
		Timeout: opts.timeout, AllowPartial: opts.allowPartial, Tests: opts.tests, PinBase: opts.pinBase,
	}
	if len(opts.platforms) > 0 {
		ps, err := platform.ParseList(strings.Join(opts.platforms, ","))
		if err != nil {
			return bo, err
		}
		bo.Platforms = ps
	}
	switch opts.format {
	case "oci", "docker":
	default:
		return bo, usageError{fmt.Errorf("--format %q: use oci or docker", opts.format)}
	}
	switch opts.progress {
	case "auto", "tty", "plain", "json":
	default:
		return bo, usageError{fmt.Errorf("--progress %q: use auto, tty, plain or json", opts.progress)}
	}
	if strings.ContainsAny(opts.network, " ,/:") {
		return bo, usageError{fmt.Errorf("--network %q: use host, none or the name of a network on the node", opts.network)}
	}
	switch opts.pull {
	case "always", "missing", "never", "newer", "true", "false":
	default:
		return bo, usageError{fmt.Errorf("--pull %q: use always, missing, never or newer", opts.pull)}
	}
	if changed("tls-verify") {
		v := opts.tlsVerify
		bo.TLSVerify = &v
	}
	if err := opts.podman.instructions(&bo.Instructions, changed); err != nil {
		return bo, err
	}
	var err error
	if bo.BuildArgs, err = parseBuildArgs(opts.buildArgs, opts.buildArgFiles); err != nil {
		return bo, err
	}
	for _, kv := range append(append([]string{}, opts.labels...), opts.annotations...) {
		if !strings.Contains(kv, "=") {
			return bo, usageError{fmt.Errorf("%q: labels and annotations are KEY=VALUE", kv)}
		}
	}
	for _, s := range opts.secrets {
		if !strings.Contains(s, "id=") {
			return bo, usageError{fmt.Errorf("--secret %q: use id=ID,src=FILE", s)}
		}
	}
	switch {
	case opts.push && opts.output != "":
		return bo, usageError{fmt.Errorf("--push and --output both say where the result goes: give one")}
	case opts.push:
		bo.Output = farm.Push{}
	case opts.output != "":
		dest, err := parseOutput(opts.output)
		if err != nil {
			return bo, err
		}
		bo.Output = farm.OCILayout{Dir: dest}
	}
	return bo, nil
}

// parseOutput reads --output type=oci,dest=DIR.
func parseOutput(s string) (string, error) {
	var typ, dest string
	for _, part := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "type":
			typ = v
		case "dest":
			dest = v
		default:
			return "", usageError{fmt.Errorf("--output %q: unknown key %q; use type=oci,dest=DIR", s, k)}
		}
	}
	if typ != "oci" || dest == "" {
		return "", usageError{fmt.Errorf("--output %q: use type=oci,dest=DIR", s)}
	}
	return dest, nil
}

// parseBuildArgs reads --build-arg-file files, then --build-arg values.
func parseBuildArgs(args, files []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError{fmt.Errorf("--build-arg-file: %w", err)}
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			args = append([]string{line}, args...)
		}
	}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if k == "" {
			return nil, usageError{fmt.Errorf("--build-arg %q: use KEY=VALUE", a)}
		}
		if !ok {
			env, found := os.LookupEnv(k)
			if !found {
				continue
			}
			v = env
		}
		out[k] = v
	}
	return out, nil
}
