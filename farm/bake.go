package farm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"
)

// BakeTarget is one build of a bake run.
type BakeTarget struct {
	// Name is the target's name.
	Name string
	// Deps are the targets whose results it needs; each is a target of
	// the run.
	Deps []string
	// Build builds the target, given its dependencies' results by name.
	Build func(ctx context.Context, deps map[string]*BuildResult) (*BuildResult, error)
}

// BakeOutcome is how one target of a bake run ended.
type BakeOutcome struct {
	// Result is its build's result (nil when it was skipped, or failed
	// before it built).
	Result *BuildResult
	// Err is why it failed, or (with Skipped) which dependency failed.
	Err error
	// Skipped says it was not built because a dependency failed.
	Skipped bool
}

// ErrSkipped is the error of a target not built because a dependency
// failed.
var ErrSkipped = errors.New("skipped")

// Bake runs the targets' builds: each starts when all its dependencies
// succeeded, at most limit at a time; a failed target skips only the
// targets that depend on it, and the others go on. The outcomes are by
// target name.
func Bake(ctx context.Context, targets []BakeTarget, limit int) map[string]BakeOutcome {
	if limit < 1 {
		limit = 1
	}
	done := map[string]chan struct{}{}
	for _, t := range targets {
		done[t.Name] = make(chan struct{})
	}
	outcomes := make([]BakeOutcome, len(targets))
	index := map[string]int{}
	for i, t := range targets {
		index[t.Name] = i
	}
	slots := make(chan struct{}, limit)
	var g errgroup.Group
	for i, t := range targets {
		g.Go(func() error {
			defer close(done[t.Name])
			deps := map[string]*BuildResult{}
			var failed []string
			for _, d := range t.Deps {
				ch, ok := done[d]
				if !ok {
					outcomes[i] = BakeOutcome{Err: fmt.Errorf("target %s: no target %s in the run", t.Name, d)}
					return nil
				}
				select {
				case <-ch:
				case <-ctx.Done():
					outcomes[i] = BakeOutcome{Err: ctx.Err(), Skipped: true}
					return nil
				}
				if o := outcomes[index[d]]; o.Err != nil {
					failed = append(failed, d)
				} else {
					deps[d] = o.Result
				}
			}
			if len(failed) > 0 {
				outcomes[i] = BakeOutcome{Skipped: true, Err: fmt.Errorf("%w: its dependency %s failed", ErrSkipped, strings.Join(failed, ", "))}
				return nil
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				outcomes[i] = BakeOutcome{Err: ctx.Err(), Skipped: true}
				return nil
			}
			defer func() { <-slots }()
			res, err := t.Build(ctx, deps)
			outcomes[i] = BakeOutcome{Result: res, Err: err}
			return nil
		})
	}
	_ = g.Wait()
	out := map[string]BakeOutcome{}
	for i, t := range targets {
		out[t.Name] = outcomes[i]
	}
	return out
}
