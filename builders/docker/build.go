package docker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/farmbuild/farm/farm"
)

// errNotYet marks operations docker nodes do not support yet.
var errNotYet = fmt.Errorf("building on docker nodes is not supported yet: %w", errors.ErrUnsupported)

// Build is not supported yet on docker nodes.
func (e *Engine) Build(context.Context, farm.NodeBuild) ([]farm.PlatformImage, error) {
	return nil, errNotYet
}

// Push is not supported yet on docker nodes.
func (e *Engine) Push(context.Context, string, string, farm.PushOptions) error { return errNotYet }

// Export is not supported yet on docker nodes.
func (e *Engine) Export(context.Context, string, io.Writer) error { return errNotYet }

// Remove is not supported yet on docker nodes.
func (e *Engine) Remove(context.Context, []string) error { return errNotYet }
