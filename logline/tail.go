package logline

// Tail keeps the last lines added to it, up to a fixed number, and counts
// those it let go.
type Tail struct {
	lines   []string
	next    int
	full    bool
	dropped int
}

// NewTail returns a Tail of at most n lines (at least one).
func NewTail(n int) *Tail { return &Tail{lines: make([]string, max(n, 1))} }

// Add keeps line, letting the oldest go when the Tail is full.
func (t *Tail) Add(line string) {
	if t.full {
		t.dropped++
	}
	t.lines[t.next] = line
	t.next++
	if t.next == len(t.lines) {
		t.next, t.full = 0, true
	}
}

// Lines returns the lines kept, oldest first.
func (t *Tail) Lines() []string {
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}

// Dropped returns how many lines were let go to keep the last ones.
func (t *Tail) Dropped() int { return t.dropped }

// Reset forgets every line.
func (t *Tail) Reset() {
	clear(t.lines)
	t.next, t.full, t.dropped = 0, false, 0
}
