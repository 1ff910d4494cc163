package logline

import (
	"runtime"
	"strings"
	"testing"
)

// split writes in to a Splitter of max bytes in chunks of chunk bytes
// (all at once when chunk is 0), flushes it and returns the lines.
func split(in string, max, chunk int) []string {
	var lines []string
	s := NewSplitter(max, func(l string) { lines = append(lines, l) })
	if chunk <= 0 {
		chunk = len(in) + 1
	}
	for len(in) > 0 {
		n := min(chunk, len(in))
		_, _ = s.Write([]byte(in[:n]))
		in = in[n:]
	}
	s.Flush()
	return lines
}

func TestSplitter(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\nb\n", []string{"a", "b"}},
		{"a\n\nb", []string{"a", "", "b"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"10%\r20%\r30%\n", []string{"10%", "20%", "30%"}},
		{"\r10%\r20%\r\n", []string{"10%", "20%"}},
		{"a\r\r\nb", []string{"a", "b"}},
		{"a\n\r\nb", []string{"a", "", "b"}},
		{"0123456789\nab", []string{"01234567" + Marker(8), "ab"}},
		{"01234567\n", []string{"01234567"}},
		{"0123456789\r\nx", []string{"01234567" + Marker(8), "x"}},
		// A rune cut in two is dropped whole.
		{"0123456é9\n", []string{"0123456" + Marker(8)}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 3} {
			got := split(tt.in, 8, chunk)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Errorf("split(%q) in chunks of %d = %q, want %q", tt.in, chunk, got, tt.want)
			}
		}
	}
}

func TestSplitterWriteString(t *testing.T) {
	var lines []string
	s := NewSplitter(8, func(l string) { lines = append(lines, l) })
	for _, c := range []string{"ab", "c\r", "\nd0123456789", "\n", "e"} {
		_, _ = s.WriteString(c)
	}
	s.Flush()
	want := []string{"abc", "d0123456" + Marker(8), "e"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines = %q, want %q", lines, want)
	}
}

func TestMarker(t *testing.T) {
	if m := Marker(MaxLine); m != " … [line cut at 64 KiB]" {
		t.Errorf("Marker(MaxLine) = %q", m)
	}
	if c := Cut("héllo", 2); c != "h"+Marker(2) {
		t.Errorf("Cut = %q", c)
	}
	if c := Cut("hello", 5); c != "hello" {
		t.Errorf("Cut of a short line = %q", c)
	}
}

// 8 MiB without a newline is handled in bounded memory: the Splitter
// keeps at most about MaxLine bytes and, once the line is cut, writing
// more allocates nothing.
func TestSplitterLongLineIsCheap(t *testing.T) {
	var lines []string
	s := NewSplitter(MaxLine, func(l string) { lines = append(lines, l) })
	chunk := []byte(strings.Repeat("x", 4096))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range (8 << 20) / len(chunk) {
		_, _ = s.Write(chunk)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("writing 8 MiB allocated %d bytes", got)
	}
	if cap(s.buf) > 2*MaxLine {
		t.Errorf("the Splitter holds %d bytes", cap(s.buf))
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = s.Write(chunk) }); allocs != 0 {
		t.Errorf("a write to a cut line makes %v allocations", allocs)
	}
	_, _ = s.Write([]byte("\nnext\n"))
	if len(lines) != 2 || lines[0] != strings.Repeat("x", MaxLine)+Marker(MaxLine) || lines[1] != "next" {
		t.Errorf("got %d lines, the first of %d bytes", len(lines), len(lines[0]))
	}
}

func TestTail(t *testing.T) {
	tl := NewTail(3)
	if got := tl.Lines(); len(got) != 0 {
		t.Errorf("empty tail: %q", got)
	}
	for _, l := range []string{"a", "b"} {
		tl.Add(l)
	}
	if got := strings.Join(tl.Lines(), ""); got != "ab" || tl.Dropped() != 0 {
		t.Errorf("lines %q, dropped %d", got, tl.Dropped())
	}
	for _, l := range []string{"c", "d", "e"} {
		tl.Add(l)
	}
	if got := strings.Join(tl.Lines(), ""); got != "cde" || tl.Dropped() != 2 {
		t.Errorf("lines %q, dropped %d", got, tl.Dropped())
	}
	tl.Reset()
	if len(tl.Lines()) != 0 || tl.Dropped() != 0 {
		t.Error("Reset kept lines")
	}
}
