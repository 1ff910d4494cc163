package cmd

import (
	"encoding/json"

	"go.podman.io/storage/pkg/ioutils"

	"github.com/farmbuild/farm/farm"
)

// buildMetadata is the --metadata-file document; docs/build.md describes it.
type buildMetadata struct {
	Success   bool               `json:"success"`
	Error     string             `json:"error,omitempty"`
	ExitCode  int                `json:"exitCode"`
	Platforms []platformMetadata `json:"platforms"`
	Index     *indexMetadata     `json:"index,omitempty"`
	Missing   []string           `json:"missing,omitempty"`
}

type platformMetadata struct {
	Platform string  `json:"platform"`
	Node     string  `json:"node"`
	Emulated bool    `json:"emulated"`
	ImageID  string  `json:"imageID,omitempty"`
	Digest   string  `json:"digest,omitempty"`
	Seconds  float64 `json:"durationSeconds"`
	Attempts int     `json:"attempts"`
	Error    string  `json:"error,omitempty"`
}

type indexMetadata struct {
	Digest     string   `json:"digest"`
	References []string `json:"references"`
}

// platformsMetadata describes each platform of a result (an empty, not a
// nil, list when it has none).
func platformsMetadata(res *farm.BuildResult) []platformMetadata {
	out := []platformMetadata{}
	for _, p := range res.Platforms {
		out = append(out, platformMetadata{
			Platform: p.Platform, Node: p.Node, Emulated: p.Emulated, ImageID: p.ImageID, Digest: p.Digest,
			Seconds: p.Duration.Seconds(), Attempts: p.Attempts, Error: p.Error,
		})
	}
	return out
}

// writeMetadata writes the build's results, atomically.
func writeMetadata(path string, res *farm.BuildResult, buildErr error) error {
	m := buildMetadata{Success: buildErr == nil, ExitCode: ExitCode(buildErr), Missing: res.Missing, Platforms: platformsMetadata(res)}
	if buildErr != nil {
		m.Error = OneLine(buildErr)
	}
	if res.Index.Digest != "" {
		m.Index = &indexMetadata{Digest: res.Index.Digest, References: res.Index.References}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return ioutils.AtomicWriteFile(path, append(data, '\n'), 0o644)
}
