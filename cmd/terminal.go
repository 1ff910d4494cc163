package cmd

import (
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/term"
)

// runeWidth is how many terminal columns r takes, simply: 0 for combining
// marks and format characters, 2 for the wide East Asian ranges (CJK,
// Hangul, kana, fullwidth forms) and emoji, 1 for the rest.
func runeWidth(r rune) int {
	switch {
	case r == 0 || unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	case r >= 0x1100 && r <= 0x115f, // Hangul Jamo
		r >= 0x2e80 && r <= 0x303e, // CJK radicals, punctuation
		r >= 0x3041 && r <= 0x33ff, // kana, CJK symbols
		r >= 0x3400 && r <= 0x4dbf, // CJK extension A
		r >= 0x4e00 && r <= 0x9fff, // CJK unified ideographs
		r >= 0xa000 && r <= 0xa4cf, // Yi
		r >= 0xac00 && r <= 0xd7a3, // Hangul syllables
		r >= 0xf900 && r <= 0xfaff, // CJK compatibility ideographs
		r >= 0xfe30 && r <= 0xfe4f, // CJK compatibility forms
		r >= 0xff00 && r <= 0xff60, // fullwidth forms
		r >= 0xffe0 && r <= 0xffe6,
		r >= 0x1f300 && r <= 0x1f64f, // emoji
		r >= 0x1f900 && r <= 0x1f9ff,
		r >= 0x20000 && r <= 0x3fffd: // CJK extensions B and on
		return 2
	}
	return 1
}

// textWidth is how many columns s takes on a terminal (s has no control
// characters: it went through logline.Sanitize or is farm's own).
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// cutToWidth cuts s to at most width columns, ending it with "…" when it
// was cut. Tabs become spaces (their width depends on the column).
func cutToWidth(s string, width int) string {
	s = strings.ReplaceAll(s, "\t", " ")
	if width <= 0 || textWidth(s) <= width {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		w := runeWidth(r)
		if n+w > width-1 {
			break
		}
		b.WriteRune(r)
		n += w
	}
	b.WriteString("…")
	return b.String()
}

// termSize returns the size of the terminal w is; off a terminal, 80
// columns ($COLUMNS when set) and unknown rows.
func termSize(w io.Writer) func() (int, int) {
	fd := -1
	if f, ok := w.(*os.File); ok {
		fd = int(f.Fd())
	}
	return func() (int, int) {
		if fd >= 0 {
			if cols, rows, err := term.GetSize(fd); err == nil && cols > 0 {
				return cols, rows
			}
		}
		if cols, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && cols > 0 {
			return cols, 0
		}
		return 80, 0
	}
}
