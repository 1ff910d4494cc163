package logline

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ok", "\x1b[31mred\x1b[0m", "\x1b]0;t\x07", "\u009b1m", "\xff\xc3", "a\r\nb\t", "\x1bP\x1b\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Sanitize(%q) = %q: invalid UTF-8", in, out)
		}
		for _, r := range out {
			if isControl(r) && r != '\t' {
				t.Fatalf("Sanitize(%q) = %q: has control %U", in, out, r)
			}
		}
		if again := Sanitize(out); again != out {
			t.Fatalf("Sanitize is not idempotent: %q -> %q -> %q", in, out, again)
		}
		if isSafe(in) && out != in {
			t.Fatalf("Sanitize changed a safe line: %q -> %q", in, out)
		}
	})
}

func FuzzSplitter(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\nb\r", "\r\r\n\n", "0123456789abc\nx", "ééééé\r"} {
		f.Add(s, uint8(3), uint8(8))
	}
	f.Fuzz(func(t *testing.T, in string, chunk, max uint8) {
		m := int(max%32) + 1
		whole := split(in, m, 0)
		chunked := split(in, m, int(chunk))
		if strings.Join(whole, "\n") != strings.Join(chunked, "\n") || len(whole) != len(chunked) {
			t.Fatalf("chunks of %d change the lines of %q: %q vs %q", chunk, in, whole, chunked)
		}
		for _, l := range whole {
			if strings.ContainsAny(l, "\r\n") {
				t.Fatalf("line %q of %q has a line end", l, in)
			}
			if len(l) > m+len(Marker(m)) {
				t.Fatalf("line %q of %q is over %d bytes", l, in, m)
			}
		}
		// Without "\r" and long lines, lines are those of strings.Split.
		if !strings.Contains(in, "\r") && !strings.Contains(strings.Join(whole, ""), "line cut") {
			want := strings.Split(strings.TrimSuffix(in, "\n"), "\n")
			if in == "" {
				want = nil
			}
			if strings.Join(whole, "\n") != strings.Join(want, "\n") || len(whole) != len(want) {
				t.Fatalf("split(%q) = %q, want %q", in, whole, want)
			}
		}
		// WriteString agrees with Write.
		var viaString []string
		s := NewSplitter(m, func(l string) { viaString = append(viaString, l) })
		_, _ = s.WriteString(in)
		s.Flush()
		if strings.Join(whole, "\n") != strings.Join(viaString, "\n") || len(whole) != len(viaString) {
			t.Fatalf("WriteString(%q) = %q, Write gave %q", in, viaString, whole)
		}
	})
}
