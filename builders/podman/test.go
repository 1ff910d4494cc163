package podman

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/specgen"

	"github.com/farmbuild/farm/farm"
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
		return 0, fmt.Errorf("creating the test container on %s: %w", e.conn.Name, err)
	}
	defer func() {
		_, _ = containers.Remove(e.ctx(context.WithoutCancel(ctx)), created.ID, new(containers.RemoveOptions).WithForce(true).WithIgnore(true))
	}()
	if err := containers.Start(c, created.ID, nil); err != nil {
		return 0, fmt.Errorf("starting the test container on %s: %w", e.conn.Name, err)
	}
	code, err := containers.Wait(c, created.ID, nil)
	if err != nil {
		return 0, fmt.Errorf("waiting for the test on %s: %w", e.conn.Name, err)
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
				log(strings.TrimRight(l, "\n"))
			case l, ok := <-stderr:
				if !ok {
					stderr = nil
					continue
				}
				log(strings.TrimRight(l, "\n"))
			}
		}
	}()
	lerr := containers.Logs(c, created.ID, new(containers.LogOptions).WithStdout(true).WithStderr(true), stdout, stderr)
	close(stdout)
	close(stderr)
	wg.Wait()
	if lerr != nil {
		return int(code), fmt.Errorf("reading the test output on %s: %w", e.conn.Name, lerr)
	}
	return int(code), nil
}

// Built lists the images farm built on the node.
func (e *Engine) Built(ctx context.Context) ([]farm.BuiltImage, error) {
	list, err := images.List(e.ctx(ctx), new(images.ListOptions).WithAll(true).WithFilters(map[string][]string{"label": {farm.BuiltLabel + "=true"}}))
	if err != nil {
		return nil, err
	}
	out := make([]farm.BuiltImage, 0, len(list))
	for _, img := range list {
		out = append(out, farm.BuiltImage{ID: img.ID, Size: img.Size, Created: time.Unix(img.Created, 0)})
	}
	return out, nil
}
