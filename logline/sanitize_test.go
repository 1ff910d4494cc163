package logline

import "testing"

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text\twith tab", "plain text\twith tab"},
		{"héllo → 世界", "héllo → 世界"},
		{"\x1b[31mred\x1b[0m", "red"},
		{"\x1b[2J\x1b[H", ""},
		{"\x1b[?1049h", ""},
		{"\x1b]0;evil title\x07after", "after"},
		{"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"\x1b]52;c;ZXZpbA==\x07", ""},
		{"\x1bPq#0;2;0;0;0\x1b\\x", "x"},
		{"\x1b]0;unterminated", ""},
		{"\x1bcreset", "reset"},
		{"\x1b(Bx", "x"},
		{"a\x1b", "a"},
		{"\u009b31mred", "red"},
		{"\u009d0;title\u009cx", "x"},
		{"\u0085next", "next"},
		{"bell\x07 bs\x08 del\x7f nul\x00", "bell bs del nul"},
		{"a\nb\rc", "a b c"},
		{"bad \xff\xfe utf8 \xc3", "bad \ufffd\ufffd utf8 \ufffd"},
		{"raw c1 \x9b31m", "raw c1 \ufffd31m"},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSanitizeSafeLineIsNotCopied(t *testing.T) {
	s := "STEP 2/3: RUN make — ok"
	if allocs := testing.AllocsPerRun(100, func() { _ = Sanitize(s) }); allocs != 0 {
		t.Errorf("a safe line costs %v allocations", allocs)
	}
}
