package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.podman.io/storage/pkg/ioutils"

	"github.com/farmbuild/farm/farm"
)

// bakeError is the run's error: nil when every target succeeded, else
// the first failed target's error (in dependency order), which gives the
// exit code, with how many failed or were skipped.
func bakeError(order []string, outcomes map[string]farm.BakeOutcome) error {
	var first error
	var failed, skipped []string
	for _, name := range order {
		o := outcomes[name]
		switch {
		case o.Err == nil:
		case o.Skipped:
			skipped = append(skipped, name)
		default:
			failed = append(failed, name)
			if first == nil {
				first = fmt.Errorf("target %s: %w", name, o.Err)
			}
		}
	}
	if first == nil && len(skipped) > 0 {
		// Only skipped: the run was interrupted.
		first = outcomes[skipped[0]].Err
	}
	if first == nil {
		return nil
	}
	msg := fmt.Sprintf("%d of %d targets failed (%s)", len(failed), len(order), strings.Join(failed, ", "))
	if len(skipped) > 0 {
		msg += fmt.Sprintf(", %d skipped (%s)", len(skipped), strings.Join(skipped, ", "))
	}
	return &bakeFailure{msg: msg, err: first}
}

// bakeFailure says which targets failed; it unwraps to the first
// failure, which gives the exit code.
type bakeFailure struct {
	msg string
	err error
}

func (b *bakeFailure) Error() string { return b.msg + ": " + OneLine(b.err) }
func (b *bakeFailure) Unwrap() error { return b.err }

// writeBakeSummary prints one line per target: how it ended, its result
// or why it failed.
func writeBakeSummary(w io.Writer, order []string, outcomes map[string]farm.BakeOutcome) {
	t := newTable(w, "TARGET", "RESULT", "PLATFORMS", "DETAIL")
	for _, name := range order {
		o := outcomes[name]
		result, detail := "ok", "-"
		switch {
		case o.Skipped:
			result = "skipped"
		case o.Err != nil:
			result = "FAILED"
		}
		if o.Err != nil {
			detail = OneLine(o.Err)
		} else if o.Result != nil && o.Result.Index.Digest != "" {
			detail = o.Result.Index.Digest
		}
		t.row(shown(name), result, resultPlatforms(o.Result), shown(detail))
	}
	_ = t.flush()
}

// resultPlatforms lists platform@node of a result, or "-".
func resultPlatforms(res *farm.BuildResult) string {
	if res == nil || len(res.Platforms) == 0 {
		return "-"
	}
	var ps []string
	for _, p := range res.Platforms {
		ps = append(ps, p.Platform+"@"+p.Node)
	}
	return shown(strings.Join(ps, ","))
}

// targetMetadata is one target's entry in farm bake's --metadata-file:
// buildx's keys where they apply, and farm's.
type targetMetadata struct {
	Digest    string             `json:"containerimage.digest,omitempty"`
	ImageName string             `json:"image.name,omitempty"`
	Result    string             `json:"farm.result"`
	Error     string             `json:"error,omitempty"`
	ExitCode  int                `json:"farm.exitCode"`
	Platforms []platformMetadata `json:"farm.platforms,omitempty"`
}

// writeBakeMetadata writes one entry per target, atomically.
func writeBakeMetadata(path string, order []string, outcomes map[string]farm.BakeOutcome) error {
	m := map[string]targetMetadata{}
	for _, name := range order {
		o := outcomes[name]
		tm := targetMetadata{Result: "success", ExitCode: ExitCode(o.Err)}
		switch {
		case o.Skipped:
			tm.Result = "skipped"
		case o.Err != nil:
			tm.Result = "failed"
		}
		if o.Err != nil {
			tm.Error = OneLine(o.Err)
			if errors.Is(o.Err, farm.ErrSkipped) {
				tm.ExitCode = exitFailure
			}
		}
		if res := o.Result; res != nil {
			tm.Digest, tm.ImageName = res.Index.Digest, strings.Join(res.Index.References, ",")
			tm.Platforms = platformsMetadata(res)
		}
		m[name] = tm
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return ioutils.AtomicWriteFile(path, append(data, '\n'), 0o644)
}
