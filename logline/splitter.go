// Package logline handles build output, which comes from nodes that may be
// hostile, as text to show: Splitter cuts a stream into lines of bounded
// length in linear time, Tail keeps the last lines of a stream, and
// Sanitize makes a line safe to print on a terminal.
//
// Records may keep output as it came; whatever prints it sanitizes it
// first.
package logline

import (
	"fmt"
	"unicode/utf8"
)

// MaxLine is the usual longest line, in bytes: 64 KiB.
const MaxLine = 64 << 10

// Splitter is an io.Writer that cuts a byte stream into lines and passes
// each to a function. A line ends at "\n", "\r\n" or a lone "\r" (progress
// bars redraw with "\r": each redraw is a line); the end is not part of the
// line. A "\r" at the start of a line ends nothing, so "\r\n" and "a\r\r"
// make no empty lines, while "\n\n" does.
//
// A line longer than max bytes is cut: the first max bytes (less a rune
// cut in two) are kept, Marker(max) is appended and the rest of the line
// is dropped. A Splitter holds at most about max bytes and takes time
// linear in its input. It is not safe for concurrent use.
type Splitter struct {
	fn     func(string)
	max    int
	marker string
	buf    []byte
	// cut is set when the current line went over max.
	cut bool
	// afterCR is set when the last line ended with "\r": a "\n" right
	// after it belongs to that end.
	afterCR bool
}

// NewSplitter returns a Splitter that calls fn with each line of at most
// max bytes (MaxLine when max is not positive) plus the cut marker.
func NewSplitter(max int, fn func(line string)) *Splitter {
	if max <= 0 {
		max = MaxLine
	}
	return &Splitter{fn: fn, max: max, marker: Marker(max)}
}

// Marker is what ends a line cut at max bytes.
func Marker(max int) string {
	if max%1024 == 0 {
		return fmt.Sprintf(" … [line cut at %d KiB]", max/1024)
	}
	return fmt.Sprintf(" … [line cut at %d bytes]", max)
}

// Write passes on the lines p completes; it never fails.
func (s *Splitter) Write(p []byte) (int, error) { return splitLines(s, p), nil }

// WriteString is Write for a string, without copying it first.
func (s *Splitter) WriteString(str string) (int, error) { return splitLines(s, str), nil }

// splitLines passes on the lines p completes, from bytes or a string alike,
// and returns len(p).
func splitLines[T ~string | ~[]byte](s *Splitter, p T) int {
	n := len(p)
	for len(p) > 0 {
		i := indexLineEnd(p)
		if i < 0 {
			appendFitting(s, p)
			break
		}
		appendFitting(s, p[:i])
		s.end(p[i])
		p = p[i+1:]
	}
	return n
}

// Flush passes on a last line that has no end yet.
func (s *Splitter) Flush() {
	if len(s.buf) > 0 || s.cut {
		s.emit()
	}
	s.afterCR = false
}

func indexLineEnd[T ~string | ~[]byte](s T) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == '\r' {
			return i
		}
	}
	return -1
}

// appendFitting appends to the current line what fits in it, from bytes
// or a string alike.
func appendFitting[T ~string | ~[]byte](s *Splitter, b T) {
	if len(b) == 0 {
		return
	}
	s.afterCR = false
	room := s.max - len(s.buf)
	if len(b) > room {
		b = b[:room]
		s.cut = true
	}
	s.buf = append(s.buf, b...)
}

// end handles a "\r" or "\n".
func (s *Splitter) end(c byte) {
	switch {
	case c == '\n' && s.afterCR:
		s.afterCR = false
	case c == '\n':
		s.emit()
	case len(s.buf) > 0 || s.cut:
		s.emit()
		s.afterCR = true
	}
}

func (s *Splitter) emit() {
	line := string(s.buf)
	if s.cut {
		line = string(trimPartialRune(s.buf)) + s.marker
	}
	s.buf, s.cut = s.buf[:0], false
	s.fn(line)
}

// Cut returns s cut to at most max bytes (on a rune boundary) with
// Marker(max) appended, or s when it is not longer than max.
func Cut(s string, max int) string {
	if max <= 0 {
		max = MaxLine
	}
	if len(s) <= max {
		return s
	}
	return string(trimPartialRune([]byte(s[:max]))) + Marker(max)
}

// trimPartialRune drops a rune cut in two at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// Tail keeps the last lines added to it, up to a fixed number, and counts
// those it let go.
type Tail struct {
	lines   []string
	next    int
	full    bool
	dropped int
}

// NewTail returns a Tail of at most n lines (at least one).
func NewTail(n int) *Tail { return &Tail{lines: make([]string, max(n, 1))} }

// Add keeps line, letting the oldest go when the Tail is full.
func (t *Tail) Add(line string) {
	if t.full {
		t.dropped++
	}
	t.lines[t.next] = line
	t.next++
	if t.next == len(t.lines) {
		t.next, t.full = 0, true
	}
}

// Lines returns the lines kept, oldest first.
func (t *Tail) Lines() []string {
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}

// Dropped returns how many lines were let go to keep the last ones.
func (t *Tail) Dropped() int { return t.dropped }

// Reset forgets every line.
func (t *Tail) Reset() {
	clear(t.lines)
	t.next, t.full, t.dropped = 0, false, 0
}
