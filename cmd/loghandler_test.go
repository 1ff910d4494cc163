package cmd

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// Log records read like the rest of farm's output: one line each,
// "warning: message (key: value, ...)", not slog's key=value form.
func TestLogLinesAreForHumans(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("scheduled", "platform", "linux/amd64")
	log.Debug("node status", "node", "p1")
	log.Warn("leaving out a node that cannot be reached", "node", "p2", "error", errors.New("dial tcp 10.0.0.2:22:\nconnection refused"))
	log.Error("could not record the build's outcome", "error", errors.New("disk full"))
	log.With("node", "p1").WithGroup("push").Warn("storing a partial result", "missing", []string{"linux/arm64", "linux/s390x"}, "reason", "", slog.Group("retry", "after", "2s"))
	log.Warn("hostile \x1b]0;pwned\x07text", "line", "a\x1b[2Jb")
	want := "warning: leaving out a node that cannot be reached (node: p2, error: dial tcp 10.0.0.2:22: connection refused)\n" +
		"error: could not record the build's outcome (error: disk full)\n" +
		"warning: storing a partial result (node: p1, push.missing: linux/arm64, linux/s390x, push.reason: \"\", push.retry.after: 2s)\n" +
		"warning: hostile text (line: ab)\n"
	if buf.String() != want {
		t.Errorf("log lines:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// --log-level info adds info lines; debug adds debug lines, each with its
// time.
func TestLogLevels(t *testing.T) {
	var buf bytes.Buffer
	log, _ := newLogger(&buf, "info")
	log.Info("scheduled", "platform", "linux/amd64", "node", "p1")
	log.Debug("node status")
	if buf.String() != "info: scheduled (platform: linux/amd64, node: p1)\n" {
		t.Errorf("info: %q", buf.String())
	}
	buf.Reset()
	log, _ = newLogger(&buf, "debug")
	log.Debug("node status", "node", "p1", "reachable", true)
	log.Warn("careful")
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} debug: node status \(node: p1, reachable: true\)\n\d\d:\d\d:\d\d\.\d{3} warning: careful\n$`).MatchString(buf.String()) {
		t.Errorf("debug: %q", buf.String())
	}
	if strings.Contains(buf.String(), "level=") {
		t.Error("slog's key=value form")
	}
}
