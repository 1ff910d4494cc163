// Package logline handles build output, which comes from nodes that may be
// hostile, as text to show: Splitter cuts a stream into lines of bounded
// length in linear time, Tail keeps the last lines of a stream, and
// Sanitize makes a line safe to print on a terminal.
//
// Records may keep output as it came; whatever prints it sanitizes it
// first.
package logline
