package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/logline"
)

// newProgress returns the renderer of a --progress mode. auto means tty
// when w is a terminal, else plain.
func newProgress(mode string, w io.Writer) (progressRenderer, error) {
	switch mode {
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return newTTYProgress(w), nil
		}
		return &plainProgress{w: w}, nil
	case "plain":
		return &plainProgress{w: w}, nil
	case "tty":
		return newTTYProgress(w), nil
	case "json":
		return &jsonProgress{enc: json.NewEncoder(w)}, nil
	}
	return nil, usageError{fmt.Errorf("--progress %q: use auto, tty, plain or json", mode)}
}

// progressRenderer shows a build's events.
type progressRenderer interface {
	event(farm.Event)
	// done ends the display; it returns true when the renderer reported
	// the result itself (json), so no summary table is printed.
	done(*farm.BuildResult, error) bool
}

// shown is a line of build output or an error, which come from nodes, as
// it may be printed: cut at logline.MaxLine, without control characters.
func shown(s string) string { return logline.Sanitize(logline.Cut(s, logline.MaxLine)) }

// plainProgress prints each output line with a [platform@node] prefix,
// and phase changes worth knowing.
type plainProgress struct{ w io.Writer }

func (p *plainProgress) event(e farm.Event) {
	prefix := shown(e.Node)
	if e.Platform != "" {
		prefix = shown(e.Platform) + "@" + prefix
	}
	switch {
	case e.Type == "log":
		fmt.Fprintf(p.w, "[%s] %s\n", prefix, shown(e.Line))
	case e.Phase == "rescheduled" || e.Phase == "retrying":
		fmt.Fprintf(p.w, "[%s] %s: %s\n", prefix, e.Phase, shown(e.Error))
	case e.Phase == "storing":
		fmt.Fprintf(p.w, "storing the result (%s)\n", e.Output)
	case e.Phase == "fetched":
		fmt.Fprintf(p.w, "[%s] fetched %s (%s/s)\n", prefix, humanBytes(e.Bytes), humanBytes(int64(e.Rate)))
	case e.Phase == "pushed":
		fmt.Fprintf(p.w, "[%s] pushed %s\n", prefix, shown(e.Line))
	case e.Phase == "testing":
		fmt.Fprintf(p.w, "[%s] testing: %s\n", prefix, shown(e.Line))
	case e.Phase == "test-failed":
		fmt.Fprintf(p.w, "[%s] TEST FAILED: %s\n", prefix, shown(e.Error))
	}
}

func (p *plainProgress) done(*farm.BuildResult, error) bool { return false }

// jsonProgress prints one JSON event per line, the result last.
type jsonProgress struct{ enc *json.Encoder }

func (p *jsonProgress) event(e farm.Event) { _ = p.enc.Encode(e) }

func (p *jsonProgress) done(res *farm.BuildResult, err error) bool {
	e := farm.Event{Time: time.Now(), Type: "result", Result: res}
	if err != nil {
		e.Error = OneLine(err)
	}
	_ = p.enc.Encode(e)
	return true
}
