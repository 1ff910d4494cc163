package podman

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/farmbuild/farm/logline"
)

// Test runs cmd with /bin/sh -c in a new container of the image on the
// node (under emulation when the image's architecture is not the node's)
// and returns the exit code and the output lines. The container is removed.
func (e *Engine) Test(ctx context.Context, imageID, cmd string, log func(string)) (int, error) {
	c := e.ctx(ctx)
	s := specgen.NewSpecGenerator(imageID, false)
	s.Entrypoint = []string{}
	s.Command = []string{"/bin/sh", "-c", cmd}
	s.Labels = map[string]string{"io.farm.test": "true"}
	created, err := containers.CreateWithSpec(c, s, nil)
	if err != nil {
		return 0, fmt.Errorf("creating the test container on %s: %w", e.conn.Node(), err)
	}
	defer func() {
		_, _ = containers.Remove(e.ctx(context.WithoutCancel(ctx)), created.ID, new(containers.RemoveOptions).WithForce(true).WithIgnore(true))
	}()
	if err := containers.Start(c, created.ID, nil); err != nil {
		return 0, fmt.Errorf("starting the test container on %s: %w", e.conn.Node(), err)
	}
	code, err := containers.Wait(c, created.ID, nil)
	if err != nil {
		return 0, fmt.Errorf("waiting for the test on %s: %w", e.conn.Node(), err)
	}
	stdout, stderr := make(chan string, 64), make(chan string, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for stdout != nil || stderr != nil {
			select {
			case l, ok := <-stdout:
				if !ok {
					stdout = nil
					continue
				}
				log(logline.Cut(strings.TrimRight(l, "\n"), logline.MaxLine))
			case l, ok := <-stderr:
				if !ok {
					stderr = nil
					continue
				}
				log(logline.Cut(strings.TrimRight(l, "\n"), logline.MaxLine))
			}
		}
	}()
	lerr := containers.Logs(c, created.ID, new(containers.LogOptions).WithStdout(true).WithStderr(true), stdout, stderr)
	close(stdout)
	close(stderr)
	wg.Wait()
	if lerr != nil {
		return int(code), fmt.Errorf("reading the test output on %s: %w", e.conn.Node(), lerr)
	}
	return int(code), nil
}

// Existing returns those of the image IDs that are on the node.
func (e *Engine) Existing(ctx context.Context, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		ok, err := images.Exists(e.ctx(ctx), id, nil)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, id)
		}
	}
	return out, nil
}
