package cmd

import (
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/records"
)

// buildBaseImages returns the FROM images of the Containerfile a farm
// build command uses, found as farm.Build finds it, so that the records
// name every base image even when its digest is unknown. It returns nil
// when it cannot tell: a Containerfile or build-argument file that is
// not a regular file (standard input, a pipe) is never read a second time.
func buildBaseImages(cmd *cobra.Command) []string {
	f := cmd.Flags()
	if f.Lookup("file") == nil {
		return nil
	}
	file, _ := f.GetString("file")
	contextDir := "."
	if f.NArg() > 0 {
		contextDir = f.Arg(0)
	}
	if file == "" {
		for _, name := range []string{"Containerfile", "Dockerfile"} {
			if _, err := os.Stat(filepath.Join(contextDir, name)); err == nil {
				file = filepath.Join(contextDir, name)
				break
			}
		}
	}
	if !regularFile(file) {
		return nil
	}
	args, _ := f.GetStringArray("build-arg")
	files, _ := f.GetStringArray("build-arg-file")
	if slices.ContainsFunc(files, func(p string) bool { return !regularFile(p) }) {
		return nil
	}
	buildArgs, err := parseBuildArgs(args, files)
	if err != nil {
		return nil
	}
	cf, err := containerfile.Read(file, buildArgs)
	if err != nil {
		return nil
	}
	var images []string
	for _, from := range cf.Froms {
		if !slices.Contains(images, from.Image) {
			images = append(images, from.Image)
		}
	}
	return images
}

func regularFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// baseDigests maps each base image to the digest pinned for it, or to
// records.UnknownDigest; nil when there is neither.
func baseDigests(images []string, pinned map[string]string) map[string]string {
	if len(images) == 0 && len(pinned) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, img := range images {
		out[img] = records.UnknownDigest
	}
	for img, d := range pinned {
		if d == "" {
			d = records.UnknownDigest
		}
		out[img] = d
	}
	return out
}
