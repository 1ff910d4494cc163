package cmd

import (
	"bytes"
	"context"
	"io"
	"sync"
)

// console is standard error for farm's own messages (log records, Ctrl-C
// notices): whole lines, printed above the live view while a build shows
// one, so that its redraws do not overwrite them.
type console struct {
	mu      sync.Mutex
	w       io.Writer
	display *buildDisplay
}

// consoleKey carries the console in a context: the signal handling that
// makes it and the command that shows a build share it.
type consoleKey struct{}

// consoleFrom returns the console of ctx, or a new one on w.
func consoleFrom(ctx context.Context, w io.Writer) *console {
	if c, ok := ctx.Value(consoleKey{}).(*console); ok {
		return c
	}
	return &console{w: w}
}

// Write prints what one log record wrote, line by line.
func (c *console) Write(p []byte) (int, error) {
	for _, l := range bytes.Split(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
		c.println(string(l))
	}
	return len(p), nil
}

// println prints a line, above a live view while one is on.
func (c *console) println(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.display != nil {
		c.display.printAbove(c.w, line)
		return
	}
	_, _ = io.WriteString(c.w, line+"\n")
}

// attach routes the console's lines through d until the returned function
// is called.
func (c *console) attach(d *buildDisplay) func() {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.display = d
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.display = nil
	}
}

// building returns the nodes the attached build still builds on.
func (c *console) building() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.display == nil {
		return nil
	}
	return c.display.building()
}

// last stops a live view and prints a line below it: the last farm prints.
func (c *console) last(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.display != nil {
		c.display.freeze()
	}
	_, _ = io.WriteString(c.w, line+"\n")
}
