package cmd

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/records"
)

// buildRecorder records a build; every failure to record is a warning.
type buildRecorder struct {
	rec    *records.Records
	id     string
	logger *slog.Logger
	// building is each platform's current attempt: its "building" event.
	building map[string]farm.Event
	// rowFailed and logFailed are set once writing a platform's row or
	// log failed: each is warned about once.
	rowFailed, logFailed bool
}

// bakeRef names a farm bake run's target; its zero value is farm build's.
type bakeRef struct{ id, target string }

// startRecording opens the records and records the start of a build (of
// a farm bake target when bake is set).
func startRecording(cmd *cobra.Command, farmName, output string, logger *slog.Logger, bake bakeRef) *buildRecorder {
	r := &buildRecorder{id: newRecordID(), logger: logger, building: map[string]farm.Event{}}
	rec, warning, err := openRecordsIn()
	if warning != "" {
		logger.Warn(warning)
	}
	if err != nil {
		logger.Warn("not recording this build", "error", err)
		return r
	}
	r.rec = rec
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	// Who runs the build: should this process die without finishing it,
	// the records see it is gone instead of keeping the build running.
	owner, err := records.ProcessOwner(os.Getpid())
	if err != nil {
		logger.Debug("the build is recorded without its process: it cannot be found interrupted", "error", err)
	}
	if err := rec.Start(records.BuildRecord{ID: r.id, Started: time.Now(), User: name, Args: invocation(cmd), Farm: farmName,
		Output: output, Owner: owner, BakeID: bake.id, Target: bake.target}); err != nil {
		logger.Warn("not recording this build", "error", err)
		rec.Close()
		r.rec = nil
	}
	return r
}

// newRecordID is a new build's (or bake run's) ID: 12 random hex digits.
func newRecordID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// invocation reconstructs the command line from the parsed flags; the
// records redact it (records.RedactArgs).
func invocation(cmd *cobra.Command) []string {
	args := strings.Fields(cmd.CommandPath())[1:]
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return append(args, cmd.Flags().Args()...)
}

// event keeps each platform's output, and what happened to it, in its log,
// and writes the platform's row as it starts building and as it ends.
func (r *buildRecorder) event(e farm.Event) {
	if r.rec == nil || e.Platform == "" {
		return
	}
	r.platformRow(e)
	line := e.Line
	switch {
	case e.Type == "log":
	case e.Phase == "building":
		line = fmt.Sprintf("== building on %s (attempt %d)", e.Node, e.Attempt)
	case e.Error != "":
		line = fmt.Sprintf("== %s on %s: %s", e.Phase, e.Node, e.Error)
	default:
		return
	}
	if r.logFailed {
		return
	}
	if err := r.rec.Log(r.id, e.Platform, line); err != nil {
		// The log stops here; the outcome is still recorded.
		r.logger.Warn("could not write the build log", "error", err)
		r.logFailed = true
	}
}

// platformRow writes the row of a platform that starts building, is done
// or failed, so that a build killed before it finishes keeps it.
func (r *buildRecorder) platformRow(e farm.Event) {
	if e.Type != "phase" {
		return
	}
	p := records.PlatformRecord{Platform: e.Platform, Node: e.Node, Emulated: e.Emulated}
	switch e.Phase {
	case "building":
		r.building[e.Platform] = e
		p.Result = "running"
	case "done":
		p.Result, p.ImageID, p.ImageRef, p.NodeID, p.Intermediate = "success", e.ImageID, e.ImageRef, e.NodeID, e.Intermediate
	case "failed", "canceled":
		p.Result, p.Error = "failed", e.Error
	default:
		return
	}
	if b, ok := r.building[e.Platform]; ok {
		p.Attempts = b.Attempt
		if e.Phase != "building" {
			p.Seconds = e.Time.Sub(b.Time).Seconds()
		}
	}
	if err := r.rec.RecordPlatform(r.id, p); err != nil && !r.rowFailed {
		r.rowFailed = true
		r.logger.Warn("could not record a platform's progress: the build's outcome will still be recorded", "error", err)
	}
}

// finish records the outcome.
func (r *buildRecorder) finish(res *farm.BuildResult, err error) {
	if r.rec == nil {
		return
	}
	if ferr := r.rec.Finish(r.id, outcomeOf(res, err)); ferr != nil {
		r.logger.Warn("could not record the build's outcome", "error", ferr)
	}
	r.rec.Close()
}

// outcomeOf turns a build's result into what the records keep of it;
func outcomeOf(res *farm.BuildResult, err error) records.Outcome {
	o := records.Outcome{Result: "success", ExitCode: ExitCode(err)}
	switch {
	case o.ExitCode == exitInterrupted:
		o.Result = "interrupted"
	case err != nil:
		o.Result = "failed"
	}
	if err != nil {
		o.Error = err.Error()
	}
	if res == nil {
		return o
	}
	o.Index = res.Index.Digest
	for _, p := range res.Platforms {
		o.Platforms = append(o.Platforms, records.PlatformRecord{Platform: p.Platform, Node: p.Node, Emulated: p.Emulated,
			ImageID: p.ImageID, Digest: p.Digest, BaseDigests: baseDigests(p.Bases), Seconds: p.Duration.Seconds(), Attempts: p.Attempts,
			Error: p.Error, Intermediate: p.Intermediate, ImageRef: p.ImageRef, NodeID: p.NodeID,
			Engine: p.Engine, EngineVersion: p.EngineVersion})
	}
	return o
}

// baseDigests maps each base image to its digest (pinned, or as the
// building node held it), or to records.UnknownDigest; nil when there
// are none.
func baseDigests(bases map[string]string) map[string]string {
	if len(bases) == 0 {
		return nil
	}
	out := map[string]string{}
	for img, d := range bases {
		if d == "" {
			d = records.UnknownDigest
		}
		out[img] = d
	}
	return out
}
