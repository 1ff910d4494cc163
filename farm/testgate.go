package farm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/manifest"
	"github.com/farmbuild/farm/platform"
)

// testTimeout bounds each --test command: --timeout when given, else an
// hour, so that a test that hangs on a node cannot hold the build forever.
func testTimeout(timeout time.Duration) time.Duration {
	if timeout > 0 {
		return timeout
	}
	return time.Hour
}

// runTests runs every test command in every image on the node that built
// it, all images in parallel, each command within timeout. Any failure is
// an ErrTestFailed naming the platform and the command; its output was
// logged.
func runTests(ctx context.Context, images []manifest.Image, nodes []*Node, tests []string, timeout time.Duration, events *emitter) error {
	if len(tests) == 0 {
		return nil
	}
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	for i, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			plat := platform.Format(img.Platform)
			for _, cmd := range tests {
				events.emit(Event{Type: "phase", Phase: "testing", Platform: plat, Node: img.Node, Line: cmd})
				tester, ok := nodes[i].Builder.(engine.Tester)
				if !ok {
					errs[i] = fmt.Errorf("%w: --test: node %s cannot run containers of its images: drop --test or build %s elsewhere", errdefs.ErrUsage, img.Node, plat)
					return
				}
				tctx, cancel := context.WithTimeout(ctx, timeout)
				code, err := tester.Test(tctx, img.ImageID, cmd, func(line string) {
					events.emit(Event{Type: "log", Platform: plat, Node: img.Node, Line: "[test] " + line})
				})
				if err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
					err = fmt.Errorf("did not finish within %s", timeout)
				}
				cancel()
				if err == nil && code != 0 {
					err = fmt.Errorf("exit status %d", code)
				}
				if err != nil {
					errs[i] = fmt.Errorf("%w on %s (built on %s): %q: %w", errdefs.ErrTestFailed, plat, img.Node, cmd, err)
					events.emit(Event{Type: "phase", Phase: "test-failed", Platform: plat, Node: img.Node, Error: errs[i].Error()})
					return
				}
			}
			events.emit(Event{Type: "phase", Phase: "tested", Platform: plat, Node: img.Node})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
