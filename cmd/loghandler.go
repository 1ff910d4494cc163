package cmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/farmbuild/farm/logline"
)

// lineHandler is the CLI's slog.Handler: one line per record, as the rest
// of farm's output reads,
//
//	warning: leaving out a node that cannot be reached (node: p2, error: dial tcp: connection refused)
//
// "error:", "warning:", "info:" or "debug:" by level. At debug level each
// line starts with the time, to the millisecond. Values are folded onto
// one line and sanitized: errors can carry a node's text.
type lineHandler struct {
	w     io.Writer
	mu    *sync.Mutex // shared by the handlers derived from one
	level slog.Level
	group string   // prefix of the keys that follow: "g." in group g
	attrs []string // "key: value" of WithAttrs
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if h.level <= slog.LevelDebug && !r.Time.IsZero() {
		b.WriteString(r.Time.Format("15:04:05.000 "))
	}
	b.WriteString(levelWord(r.Level) + ": " + oneLineText(r.Message))
	attrs := h.attrs
	r.Attrs(func(a slog.Attr) bool {
		attrs = appendAttr(attrs, h.group, a)
		return true
	})
	if len(attrs) > 0 {
		b.WriteString(" (" + strings.Join(attrs, ", ") + ")")
	}
	b.WriteString("\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]string(nil), h.attrs...)
	for _, a := range attrs {
		c.attrs = appendAttr(c.attrs, h.group, a)
	}
	return &c
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	return &c
}

func levelWord(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warning"
	case l >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}

// appendAttr appends "key: value" of a, and of each attribute of a group.
func appendAttr(out []string, group string, a slog.Attr) []string {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			group += a.Key + "."
		}
		for _, g := range v.Group() {
			out = appendAttr(out, group, g)
		}
		return out
	}
	if a.Key == "" {
		return out
	}
	return append(out, oneLineText(group+a.Key)+": "+valueText(v))
}

// valueText prints a value for a human: errors by their message, lists
// joined with commas, times in RFC 3339, empty strings as "".
func valueText(v slog.Value) string {
	var s string
	switch v.Kind() {
	case slog.KindTime:
		s = v.Time().Format(time.RFC3339)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case []string:
			s = strings.Join(x, ", ")
		default:
			s = fmt.Sprint(x)
		}
	default:
		s = v.String()
	}
	if s = oneLineText(s); s == "" {
		return `""`
	}
	return s
}

// oneLineText folds s onto one line without control characters.
func oneLineText(s string) string {
	return logline.Sanitize(strings.Join(strings.Fields(s), " "))
}
