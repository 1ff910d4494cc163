package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/bake"
)

// bakeOptions are farm bake's flags.
type bakeOptions struct {
	files, sets, tests                     []string
	print, push                            bool
	pinBase, dryRun, keepGoing, allowParts bool
	output, farmName, progress, metadata   string
}

func newBakeCmd(ro *rootOptions) *cobra.Command {
	opts := &bakeOptions{}
	cmd := &cobra.Command{
		Use:   "bake [flags] [TARGET|GROUP...]",
		Short: "Build the targets of a docker-bake or compose file, in dependency order",
		Long: `Read a build definition as docker buildx bake does (docker-bake.hcl, its JSON
form, compose files) and build its targets. With no -f, the files are looked
up in the current directory in buildx's order (compose.yaml, compose.yml,
docker-compose.yml, docker-compose.yaml, docker-bake.json, docker-bake.hcl,
docker-bake.override.json, docker-bake.override.hcl); every one found is read,
later ones laid over earlier ones. With no TARGET, the group (or target)
"default" is built. A context "target:NAME" makes NAME a dependency.

Each target is built as one farm build of its platforms, when its
dependencies have succeeded; independent targets build at the same time. A
target:NAME context is NAME's image for the same platform, on the podman
node that built it, where the dependent's platform is built too. A failing
target stops only its dependents. --print shows the resolved definition as
JSON, in buildx's shape, without contacting any node. See docs/bake.md for
what is supported, side by side with buildx, and what is not yet.`,
		Example: `  farm bake --print
  farm bake -f docker-bake.hcl --set '*.platforms=linux/amd64,linux/arm64' --print app
  TAG=1.2 farm bake -f compose.yaml --print
  farm bake --push --metadata-file meta.json nightly`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBake(cmd.Context(), ro, opts, args, cmd)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.files, "file", "f", nil, "build definition file (repeatable, read in order, later ones laid over earlier ones; - is standard input)")
	f.StringArrayVar(&opts.sets, "set", nil, "override a target's field: TARGET.FIELD=VALUE, TARGET may be a pattern such as *; FIELD+=VALUE adds to a list (repeatable)")
	f.BoolVar(&opts.print, "print", false, "print the resolved definition as JSON and build nothing")
	f.BoolVar(&opts.push, "push", false, "push every target to the registry of its tags")
	f.StringVarP(&opts.output, "output", "o", "", "write each target as an OCI image layout: type=oci,dest=DIR")
	f.StringVar(&opts.farmName, "farm", "", "farm to build on (default: the default farm, else every connection)")
	f.StringVar(&opts.progress, "progress", "auto", "progress display: auto, tty, plain or json")
	f.StringVar(&opts.metadata, "metadata-file", "", "write each target's result as JSON to this file")
	f.StringArrayVar(&opts.tests, "test", nil, "run this shell command in every built image before anything is stored or pushed; repeatable")
	f.BoolVar(&opts.pinBase, "pin-base", false, "resolve every FROM image once, here, to a digest, and build every target from exactly that digest")
	f.BoolVar(&opts.dryRun, "dry-run", false, "print where each target's platforms would be built, and why; build nothing")
	f.BoolVar(&opts.keepGoing, "keep-going", false, "let the other platforms of a target finish when one fails")
	f.BoolVar(&opts.allowParts, "allow-partial", false, "store the platforms of a target that succeeded even when others failed")
	cmd.SetFlagErrorFunc(suggestFlag)
	return cmd
}

func runBake(ctx context.Context, ro *rootOptions, opts *bakeOptions, names []string, cmd *cobra.Command) error {
	switch opts.progress {
	case "auto", "tty", "plain", "json":
	default:
		return usageError{fmt.Errorf("--progress %q: use auto, tty, plain or json", opts.progress)}
	}
	if opts.push && opts.output != "" {
		return usageError{errors.New("--push and --output both say where the results go: give one")}
	}
	if opts.output != "" {
		if _, err := parseOutput(opts.output); err != nil {
			return err
		}
	}
	def, err := loadBake(opts, names, cmd)
	if err != nil {
		return err
	}
	if !opts.print {
		return runBakeBuild(ctx, ro, opts, def, cmd)
	}
	out, err := json.MarshalIndent(def, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), string(out))
	return err
}

// loadBake reads and resolves the definition the flags name, from the
// working directory and the environment.
func loadBake(opts *bakeOptions, names []string, cmd *cobra.Command) (*bake.Definition, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	env := environ()
	relative := false
	if v := strings.TrimSpace(env["BUILDX_BAKE_FILE_RELATIVE_PATHS"]); v != "" {
		if relative, err = strconv.ParseBool(v); err != nil {
			return nil, usageError{fmt.Errorf("BUILDX_BAKE_FILE_RELATIVE_PATHS=%q: use 1 or 0", v)}
		}
	}
	files, err := bake.ReadFiles(dir, opts.files, cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	return bake.Load(files, names, bake.Options{Dir: dir, Env: env, Set: opts.sets, FileRelativePaths: relative})
}

// environ is the process's environment as a map.
func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}
