package cmd

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// screen is a small terminal for the tty view's tests: it wraps lines
// longer than its width onto the next row (as a terminal does, which is
// how a redraw that does not fit leaves stale copies), and understands
// carriage return, line feed and the sequences the view uses: CSI n A
// (cursor up), CSI 2K (erase the line) and CSI J (erase below).
type screen struct {
	cols    int
	cells   [][]rune
	r, c    int
	pending bool // the cursor is past the last column: the next rune wraps
	wraps   int  // lines that did not fit
}

func newScreen(cols int) *screen { return &screen{cols: cols, cells: [][]rune{nil}} }

// cellWidth is the test's own idea of wide runes: Han takes two cells.
func cellWidth(r rune) int {
	if unicode.Is(unicode.Han, r) {
		return 2
	}
	return 1
}

func (s *screen) row() []rune {
	for len(s.cells) <= s.r {
		s.cells = append(s.cells, nil)
	}
	for len(s.cells[s.r]) < s.cols {
		s.cells[s.r] = append(s.cells[s.r], ' ')
	}
	return s.cells[s.r]
}

// write feeds out to the screen; it fails on a sequence it does not know.
func (s *screen) write(out string) error {
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			s.c, s.pending = 0, false
		case r == '\n': // the terminal driver adds a carriage return (ONLCR)
			s.r, s.c, s.pending = s.r+1, 0, false
			s.row()
		case r == 0x1b:
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9') {
				j++
			}
			if i+1 >= len(rs) || rs[i+1] != '[' || j >= len(rs) {
				return fmt.Errorf("unknown escape at %q", string(rs[i:min(i+10, len(rs))]))
			}
			n, _ := strconv.Atoi(string(rs[i+2 : j]))
			switch rs[j] {
			case 'A':
				s.r, s.pending = max(s.r-max(n, 1), 0), false
				s.c = min(s.c, s.cols-1)
			case 'K':
				row := s.row()
				for k := range row {
					row[k] = ' '
				}
			case 'J':
				row := s.row()
				for k := s.c; k < len(row); k++ {
					row[k] = ' '
				}
				s.cells = s.cells[:s.r+1]
			default:
				return fmt.Errorf("unknown sequence %q", string(rs[i:j+1]))
			}
			i = j
		case r < 0x20:
			return fmt.Errorf("control character %U", r)
		default:
			w := cellWidth(r)
			if s.pending || s.c+w > s.cols {
				s.wraps++
				s.r, s.c, s.pending = s.r+1, 0, false
			}
			row := s.row()
			row[s.c] = r
			if w == 2 {
				row[s.c+1] = 0
			}
			if s.c += w; s.c >= s.cols {
				s.c, s.pending = s.cols-1, true
			}
		}
	}
	return nil
}

// lines returns the screen's rows, trailing blanks removed.
func (s *screen) lines() []string {
	var out []string
	for _, row := range s.cells {
		out = append(out, strings.TrimRight(strings.ReplaceAll(string(row), "\x00", ""), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
