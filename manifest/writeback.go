package manifest

import "os"

// writebackChunk is how many written bytes go to disk at a time.
const writebackChunk = 16 << 20

// writeback writes to a file and has the kernel start writing each chunk
// to disk as soon as it is complete, so that the flush before the file is
// renamed into place (commitFile) finds little left: a 1 GiB upload
// otherwise waits seconds for its flush, with the disk idle until then.
type writeback struct {
	f *os.File
	// off is where the next write lands; done is where the bytes already
	// sent to disk end.
	off, done int64
}

// newWriteback writes to f, which holds off bytes already.
func newWriteback(f *os.File, off int64) *writeback {
	return &writeback{f: f, off: off, done: off}
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.done >= writebackChunk {
		startWriteback(w.f, w.done, w.off-w.done)
		w.done = w.off
	}
	return n, err
}
