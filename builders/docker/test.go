package docker

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/farmbuild/farm/logline"
)

// Test runs cmd with /bin/sh -c in a new container of the image on the
// node (under emulation when the image's architecture is not the node's)
// and returns its exit code; log receives its output lines. The container
// is removed. It runs on the engine's default network.
func (e *Engine) Test(ctx context.Context, imageID, cmd string, log func(string)) (int, error) {
	res, err := e.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: imageID, Entrypoint: []string{}, Cmd: []string{"/bin/sh", "-c", cmd},
			Labels: map[string]string{"io.farm.test": "true"},
		},
	})
	if err != nil {
		return 0, fmt.Errorf("creating the test container on %s: %w", e.conn.Node(), err)
	}
	id := res.ID
	defer func() {
		_, _ = e.api.ContainerRemove(context.WithoutCancel(ctx), id, client.ContainerRemoveOptions{Force: true})
	}()
	if _, err := e.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return 0, fmt.Errorf("starting the test container on %s: %w", e.conn.Node(), err)
	}
	wait := e.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int64
	select {
	case res := <-wait.Result:
		code = res.StatusCode
	case err := <-wait.Error:
		return 0, fmt.Errorf("waiting for the test on %s: %w", e.conn.Node(), err)
	}
	logs, err := e.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return int(code), fmt.Errorf("reading the test output on %s: %w", e.conn.Node(), err)
	}
	defer logs.Close()
	if err := forwardLines(logs, log); err != nil {
		return int(code), fmt.Errorf("reading the test output on %s: %w", e.conn.Node(), err)
	}
	return int(code), nil
}

// forwardLines demultiplexes a container log stream into lines, each cut
// at logline.MaxLine.
func forwardLines(r io.Reader, log func(string)) error {
	split := logline.NewSplitter(logline.MaxLine, log)
	_, err := stdcopy.StdCopy(split, split, r)
	split.Flush()
	return err
}
