package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/builders/podman"
	"github.com/farmbuild/farm/config"
	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/manifest"
)

type buildOptions struct {
	tags, buildArgs, buildArgFiles, labels, annotations, secrets []string
	tests, platforms                                             []string
	file, farmName, target, pull, authfile, iidfile              string
	format, output, ignorefile, network, progress                string
	local, noCache, tlsVerify, cleanup, keepGoing, push          bool
	dryRun, allowPartial, pinBase                                bool
	metadataFile                                                 string
	connectTimeout, timeout                                      time.Duration
	// podman are the flags of podman's build that farm passes through.
	podman podmanOptions
}

func newBuildCmd(ro *rootOptions) *cobra.Command {
	opts := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [flags] [CONTEXT]",
		Short: "Build a multi-arch image on the farm",
		Long: `Build one image for several platforms on the nodes of a farm and assemble the
multi-arch result. Each platform goes to a node that builds it natively, and
to one that emulates it only when none can. Without --push or --output the
images are brought back to the local podman and a manifest list named by -t
is created there (push it with: podman manifest push --all NAME docker://...).

Which nodes: --farm, else the default farm, else every connection; with no
connections at all, the local podman alone. --local adds the local podman.`,
		Example: `  farm build --platforms linux/amd64,linux/arm64 -t app:1.2 .
  farm build --platforms linux/amd64,linux/arm64 -t registry.example/app:1.2 --push .
  farm build --platforms linux/amd64,linux/arm64 --output type=oci,dest=./app-oci -t app:1.2 .`,
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			contextDir := "."
			if len(args) == 1 {
				contextDir = args[0]
			}
			return runBuild(cmd.Context(), ro, opts, contextDir, cmd)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.tags, "tag", "t", nil, "name of the result (repeatable): the local list, or the registry reference with --push")
	f.StringVarP(&opts.file, "file", "f", "", "Containerfile (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile)")
	f.StringSliceVar(&opts.platforms, "platforms", nil, "comma-separated platforms, e.g. linux/amd64,linux/arm64, repeatable; --platform is the same flag (default: every platform the farm builds natively)")
	f.StringVar(&opts.farmName, "farm", "", "farm to build on (default: the default farm, else every connection)")
	f.BoolVar(&opts.local, "local", false, "add the local podman as a node")
	f.StringArrayVar(&opts.buildArgs, "build-arg", nil, "build argument KEY=VALUE (KEY alone takes it from the environment)")
	f.StringArrayVar(&opts.buildArgFiles, "build-arg-file", nil, "file of KEY=VALUE build arguments")
	f.StringArrayVar(&opts.labels, "label", nil, "image label KEY=VALUE")
	f.StringArrayVar(&opts.annotations, "annotation", nil, "image annotation KEY=VALUE")
	f.StringVar(&opts.target, "target", "", "stage to build")
	f.StringVar(&opts.network, "network", "", "network for RUN steps: host, none or the name of a network on the node (default: the engine's)")
	f.BoolVar(&opts.noCache, "no-cache", false, "do not use the layer cache")
	f.StringVar(&opts.pull, "pull", "missing", "pull policy: always, missing, never or newer (--pull alone: always)")
	f.Lookup("pull").NoOptDefVal = "always"
	f.StringArrayVar(&opts.secrets, "secret", nil, "secret for the build, id=ID,src=FILE (sent only to the nodes that build, never logged)")
	f.BoolVar(&opts.tlsVerify, "tls-verify", true, "require HTTPS and verify certificates of registries")
	f.StringVar(&opts.authfile, "authfile", "", "registry credentials file (default: podman's and docker's usual files)")
	f.BoolVar(&opts.cleanup, "cleanup", false, "remove the built images from the nodes afterwards")
	f.StringVar(&opts.iidfile, "iidfile", "", "write the result's digest (the local list's ID) to this file")
	f.StringVar(&opts.format, "format", "oci", "image format: oci or docker")
	f.BoolVar(&opts.keepGoing, "keep-going", false, "let the other platforms finish when one fails (nothing is output either way)")
	f.BoolVar(&opts.push, "push", false, "push to the registry of -t: the images come back to the client, which pushes them with its own credentials")
	f.StringVarP(&opts.output, "output", "o", "", "write an OCI image layout: type=oci,dest=DIR")
	f.StringVar(&opts.ignorefile, "ignorefile", "", "ignore file to use instead of the context's .containerignore/.dockerignore")
	f.DurationVar(&opts.connectTimeout, "connect-timeout", 20*time.Second, "how long to wait for each node to answer")
	f.DurationVar(&opts.timeout, "timeout", 0, "stop a platform's build after this long (e.g. 30m; default: no limit)")
	f.StringArrayVar(&opts.tests, "test", nil, "run this shell command in every built image (on a node of its platform) before anything is stored or pushed; repeatable")
	f.BoolVar(&opts.pinBase, "pin-base", false, "resolve every FROM image once, here, to a digest, and have every node build from exactly that digest")
	f.BoolVar(&opts.dryRun, "dry-run", false, "print where each platform would be built, and why; build nothing")
	f.BoolVar(&opts.allowPartial, "allow-partial", false, "store the platforms that succeeded even when others failed, and report the missing ones")
	f.StringVar(&opts.metadataFile, "metadata-file", "", "write the build's results as JSON to this file (see docs/build.md)")
	f.StringVar(&opts.progress, "progress", "auto", "progress display: auto (tty on a terminal, else plain), tty, plain or json (events on standard output, see docs/progress.md)")
	opts.podman.define(f)
	// podman's and buildx's spelling of --platforms.
	f.SetNormalizeFunc(aliasFlags)
	cmd.SetFlagErrorFunc(suggestFlag)
	groupFlags(cmd)
	return cmd
}

func runBuild(ctx context.Context, ro *rootOptions, opts *buildOptions, contextDir string, cmd *cobra.Command) error {
	bo, err := opts.toFarm(contextDir, cmd.Flags().Changed)
	if err != nil {
		return err
	}
	bo.Logger = ro.logger
	if err := farm.Preflight(ctx, bo); err != nil {
		return err
	}
	if opts.podman.creds != "" {
		dir, err := os.MkdirTemp("", "farm-creds-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if bo.AuthFile, err = farm.CredsAuthFile(dir, opts.podman.creds, bo); err != nil {
			return err
		}
	}
	schedulingFacts(ro, &bo)
	farmName, conns, err := ro.store.FarmConnections(opts.farmName)
	if err != nil {
		return err
	}
	if err := farm.CheckContainerfile(bo); err != nil {
		return err
	}
	local := &localEngine{logger: ro}
	defer local.stop()
	if opts.local || len(conns) == 0 {
		e, err := local.get(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, config.Connection{Name: "local", URI: "unix://" + e.Socket()})
	}
	if bo.Output == nil {
		bo.Output = farm.Local{Open: func(ctx context.Context) (manifest.Puller, func(), error) {
			e, err := local.get(ctx)
			return e, func() {}, err
		}}
	}
	bo.KnownNodes = knownNodes(ro)
	if opts.dryRun {
		plan, err := farm.Plan(ctx, conns, ro.open, bo)
		if plan != nil {
			saveNodeFacts(ro, plan.Nodes)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		t := newTable(cmd.OutOrStdout(), "PLATFORM", "NODE", "MODE", "FACTS", "WHY")
		for _, j := range plan.Jobs {
			t.row(j.Platform, j.Node, mode(j.Emulated), factsAge(j.FactsSeen, now), j.Reason)
		}
		return t.flush()
	}
	bo.ClientID = clientID(ro)
	progressOut := cmd.ErrOrStderr()
	if opts.progress == "json" {
		progressOut = cmd.OutOrStdout()
	}
	renderer, err := newProgress(opts.progress, progressOut)
	if err != nil {
		return err
	}
	// The build is recorded, and its ID printed, once it starts: what
	// farm refuses after asking the nodes (a flag a node cannot honour)
	// leaves no record, as the checks before do.
	var recorder *buildRecorder
	var once sync.Once
	start := func() {
		once.Do(func() {
			recorder = startRecording(cmd, farmName, bo.Output.Kind(), ro.logger, bakeRef{})
			fmt.Fprintf(cmd.ErrOrStderr(), "Build %s (farm logs %s)\n", recorder.id, recorder.id)
		})
	}
	progress := newBuildDisplay(renderer)
	defer ro.console.attach(progress)()
	bo.Progress = func(e farm.Event) {
		start()
		recorder.event(e)
		if opts.podman.quiet && e.Type == "log" {
			return // recorded, not shown (--quiet)
		}
		progress.event(e)
	}
	res, err := farm.Build(ctx, conns, ro.open, bo)
	if res != nil {
		saveNodeFacts(ro, res.Nodes)
	}
	if recorder == nil && ExitCode(err) == exitUsage {
		return err
	}
	start()
	recorder.finish(res, err)
	reported := progress.done(res, err)
	if res != nil {
		if !reported {
			writeBuildSummary(cmd.OutOrStdout(), res, err, progress)
		}
		if opts.metadataFile != "" {
			if merr := writeMetadata(opts.metadataFile, res, err); merr != nil {
				return errors.Join(err, merr)
			}
		}
	}
	if err != nil {
		return err
	}
	if len(res.Missing) > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "Warning: partial result: missing %s\n", strings.Join(res.Missing, ", "))
	}
	if opts.iidfile != "" {
		if err := os.WriteFile(opts.iidfile, []byte(res.Index.Digest), 0o644); err != nil {
			return fmt.Errorf("writing --iidfile: %w", err)
		}
	}
	return nil
}

// localEngine opens the local podman once, on first use.
type localEngine struct {
	logger *rootOptions
	once   sync.Once
	engine *podman.Engine
	close  func()
	err    error
}

func (l *localEngine) get(ctx context.Context) (*podman.Engine, error) {
	l.once.Do(func() { l.engine, l.close, l.err = podman.Local(ctx, l.logger.logger) })
	return l.engine, l.err
}

func (l *localEngine) stop() {
	if l.close != nil {
		l.close()
	}
}

func mode(emulated bool) string {
	if emulated {
		return "emulated"
	}
	return "native"
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// clientID is this client's ID, kept in the state directory, with which
// nodes keep the build context between builds; "" (each build's context
// is new to the nodes) when it cannot be kept.
func clientID(ro *rootOptions) string {
	state, err := stateDir()
	if err == nil {
		var id string
		if id, err = farm.ClientID(state); err == nil {
			return id
		}
	}
	ro.logger.Warn("no client ID: nodes get the whole build context on every build", "error", err)
	return ""
}

// schedulingFacts gives the build its blob store (and the spool of its
// context), the switch of the nodes' context caches, and what the scheduler
// weighs beyond the nodes' own facts: the user's weights and how long each
// node's last builds took. Unreadable weights or records only cost
// scheduling quality.
func schedulingFacts(ro *rootOptions, bo *farm.BuildOptions) {
	if cache, err := cacheDir(); err == nil {
		bo.StoreDir = filepath.Join(cache, "store")
		bo.StoreMax = storeMax(ro)
		bo.ContextSpool = filepath.Join(cache, "spool")
	} else {
		ro.logger.Warn("no blob store: images will be streamed whole", "error", err)
	}
	bo.NoContextCache = os.Getenv("FARM_CONTEXT_CACHE") == "off"
	bo.Weights, _ = ro.store.Weights()
	state, err := stateDir()
	if err != nil {
		return
	}
	if _, err := os.Stat(filepath.Join(state, "builds.db")); err != nil {
		return // no records yet: nothing to weigh, and none made by a dry run
	}
	rec, warning, err := openRecordsIn()
	if warning != "" {
		ro.logger.Warn(warning)
	}
	if err == nil {
		bo.History, _ = rec.Durations()
		rec.Close()
	}
}
