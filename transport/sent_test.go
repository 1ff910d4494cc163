package transport

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
)

// TestSentCountsWhatDialEngineStreamsCarry: the bytes written to a stream
// from DialEngine count, and the stream still half-closes.
func TestSentCountsWhatDialEngineStreamsCarry(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c) // ends at the client's half-close
		_, _ = c.Write([]byte("done"))
		c.Close()
		got <- n
	}()
	c := &Conn{Name: "local", Dest: Destination{Scheme: "unix", Socket: sock}}
	s, err := c.DialEngine(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := s.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("the counted stream must half-close: %v", err)
	}
	if answer, _ := io.ReadAll(s); string(answer) != "done" {
		t.Errorf("answer after the half-close: %q", answer)
	}
	if n := <-got; n != 1000 || c.Sent() != 1000 {
		t.Errorf("engine got %d bytes, Sent() = %d; want 1000", n, c.Sent())
	}
}
