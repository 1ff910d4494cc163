package logline

import (
	"strings"
	"unicode/utf8"
)

// Sanitize returns s made safe to print on a terminal: escape sequences
// (ESC, CSI, OSC, DCS and the other strings, in their 7-bit and C1 forms)
// are removed whole, other C0 controls but tab, DEL and the C1 controls
// (U+0080 to U+009F) are removed, line breaks ("\n", "\r", "\v", "\f")
// become spaces so a line stays one line, and each byte of invalid UTF-8
// becomes U+FFFD. The result is valid UTF-8 with no control character but
// tab, and Sanitize leaves it as it is.
func Sanitize(s string) string {
	if isSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
			i++
		case r == '\t':
			b.WriteByte('\t')
			i++
		case r == '\n' || r == '\r' || r == '\v' || r == '\f':
			b.WriteByte(' ')
			i++
		case r == 0x1b:
			i = skipEscape(s, i+1)
		case r == 0x9b: // CSI
			i = skipCSI(s, i+size)
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // DCS, SOS, OSC, PM, APC
			i = skipString(s, i+size)
		case isControl(r):
			i += size
		default:
			b.WriteString(s[i : i+size])
			i += size
		}
	}
	return b.String()
}

// isControl reports whether r is a C0 control, DEL or a C1 control.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// isSafe reports whether s is valid UTF-8 without controls but tab.
func isSafe(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || isControl(r) {
			return false
		}
		i += size
	}
	return true
}

// skipEscape returns where the sequence whose ESC ends at i ends.
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch c := s[i]; {
	case c == '[':
		return skipCSI(s, i+1)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+1)
	}
	// nF and Fp/Fe/Fs: intermediates 0x20-0x2F, then a final 0x30-0x7E.
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipCSI returns where a control sequence whose introducer ends at i
// ends: parameters 0x30-0x3F, intermediates 0x20-0x2F, a final 0x40-0x7E.
func skipCSI(s string, i int) int {
	for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
		i++
	}
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipString returns where a control string (OSC, DCS, ...) that starts
// at i ends: after BEL or ST (ESC \ or U+009C); at another ESC, which
// starts the next sequence; or at the end of s.
func skipString(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		case s[i] == 0x1b:
			return i
		case strings.HasPrefix(s[i:], "\u009c"):
			return i + len("\u009c")
		}
		i++
	}
	return i
}
