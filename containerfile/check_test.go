package containerfile

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name, file string
		line       int // 0: no error; -1: an error about the whole file
	}{
		{"plain", "FROM alpine\nRUN echo hi\n", 0},
		{"ARG first", "ARG V=1\nFROM alpine:${V}\n", 0},
		{"comments, directives, blank lines", "# syntax=docker/dockerfile:1\n\n# a comment\nfrom alpine AS b\ncopy . /\n", 0},
		{"continuations", "FROM alpine\nRUN apk add \\\n  # a comment inside\n  curl\n", 0},
		{"escape directive", "# escape=`\nFROM alpine\nRUN echo a `\n  b\n", 0},
		{"heredoc", "FROM alpine\nRUN <<EOF\nset -e\nnot an instruction\nEOF\nCMD [\"sh\"]\n", 0},
		{"two heredocs", "FROM alpine\nCOPY <<a <<-\"b\" /\nx\na\n\ty\n\tb\nRUN true\n", 0},
		{"byte order mark", "\ufeffFROM alpine\r\nRUN true\r\n", 0},
		{"empty", "", -1},
		{"only comments", "# nothing\n\n", -1},
		{"unknown instruction", "FROM alpine\nRUNN echo hi\n", 2},
		{"no FROM first", "RUN echo hi\nFROM alpine\n", 1},
		{"FROM without image", "FROM\n", 1},
		{"FROM AS only", "FROM AS base\n", 1},
		{"continued unknown", "FROM alpine\nRUN a \\\n b\nBOGUS x\n", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.file))
			var se *SyntaxError
			switch {
			case tt.line == 0 && err != nil:
				t.Errorf("Check = %v, want no error", err)
			case tt.line != 0 && !errors.As(err, &se):
				t.Errorf("Check = %v, want a SyntaxError", err)
			case tt.line > 0 && se.Line != tt.line:
				t.Errorf("Check = %v, want line %d", err, tt.line)
			case tt.line == -1 && se.Line != 0:
				t.Errorf("Check = %v, want an error about the whole file", err)
			}
		})
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"FROM a\nRUN <<EOF\nx\nEOF\n", "# escape=`\nFROM a `\n b\n", "FROM a \\\n", "RUN x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data)
		var se *SyntaxError
		if err != nil && (!errors.As(err, &se) || se.Problem == "") {
			t.Fatalf("Check = %v: want a SyntaxError with a problem", err)
		}
	})
}
