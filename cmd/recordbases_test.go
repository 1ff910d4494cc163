package cmd

import (
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// buildCmd returns farm build's command with args parsed.
func buildCmd(t *testing.T, args ...string) *cobra.Command {
	t.Helper()
	cmd := newBuildCmd(&rootOptions{})
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// The records name the build's FROM images as the build reads them, and
// never read a Containerfile from a pipe a second time.
func TestBuildBaseImages(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "ARG V=1\nFROM docker.io/library/golang:$V AS b\nFROM b\nFROM scratch\nFROM docker.io/library/golang:$V\n")
	t.Chdir(dir)
	if got := buildBaseImages(buildCmd(t)); !slices.Equal(got, []string{"docker.io/library/golang:1"}) {
		t.Errorf("context's Dockerfile: %v", got)
	}
	if got := buildBaseImages(buildCmd(t, "--build-arg", "V=2", dir)); !slices.Equal(got, []string{"docker.io/library/golang:2"}) {
		t.Errorf("with a build argument: %v", got)
	}
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan []string, 1)
	go func() { done <- buildBaseImages(buildCmd(t, "-f", fifo, dir)) }()
	select {
	case got := <-done:
		if got != nil {
			t.Errorf("a pipe: %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading the Containerfile from a pipe a second time")
	}
	if got := buildBaseImages(buildCmd(t, "-f", filepath.Join(dir, "missing"))); got != nil {
		t.Errorf("a missing Containerfile: %v", got)
	}
}
