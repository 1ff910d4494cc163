package cmd

import (
	"io"

	"github.com/farmbuild/farm/logline"
)

// maxShownLogLine is the longest line `farm logs` prints. Lines in the
// records are already cut by the drivers; this only bounds memory.
const maxShownLogLine = 1 << 20

// safeLineWriter prints what is written to it line by line, each line
// sanitized (build output is untrusted: a node must not drive the user's
// terminal). Call Flush at the end for a last line without a newline.
type safeLineWriter struct {
	w     io.Writer
	err   error
	lines *logline.Splitter
}

func newSafeLineWriter(w io.Writer) *safeLineWriter {
	s := &safeLineWriter{w: w}
	s.lines = logline.NewSplitter(maxShownLogLine, s.line)
	return s
}

// Write prints the lines p completes; it fails once printing failed.
func (s *safeLineWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	_, _ = s.lines.Write(p)
	return len(p), s.err
}

// Flush prints a last line without a newline, and returns the first
// error printing met.
func (s *safeLineWriter) Flush() error {
	if s.err == nil {
		s.lines.Flush()
	}
	return s.err
}

func (s *safeLineWriter) line(l string) {
	if s.err == nil {
		_, s.err = io.WriteString(s.w, logline.Sanitize(l)+"\n")
	}
}
