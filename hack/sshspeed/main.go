// Command sshspeed measures raw SSH throughput from a node to this
// machine through farm's own transport: the node writes N bytes into a
// port reverse-forwarded over the SSH connection, as its engine does when
// it pushes an image into farm's blob store, and the client reads and
// discards them. hack/bench.sh compares delivery with it.
//
//	sshspeed -identity KEY -bytes 1073741824 ssh://user@host:port/socket
//
// It prints one line: bytes, seconds and MiB/s.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/farmbuild/farm/transport"
)

func main() {
	identity := flag.String("identity", "", "SSH private key")
	n := flag.Int64("bytes", 1<<30, "bytes to send")
	flag.Parse()
	if flag.NArg() != 1 || *n <= 0 {
		fmt.Fprintln(os.Stderr, "usage: sshspeed [-identity KEY] [-bytes N] URI")
		os.Exit(2)
	}
	got, took, err := measure(context.Background(), flag.Arg(0), *identity, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sshspeed:", err)
		os.Exit(1)
	}
	fmt.Printf("%d bytes %.3f s %.1f MiB/s\n", got, took.Seconds(), float64(got)/took.Seconds()/(1<<20))
}

// measure has the node send n bytes into a reverse forward and times
// them from the connection's accept to its end.
func measure(ctx context.Context, uri, identity string, n int64) (int64, time.Duration, error) {
	conn, err := transport.Connect(ctx, "sshspeed", uri, identity)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	ln, err := conn.ListenRemote("127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	type result struct {
		n    int64
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		start := time.Now()
		got, err := io.Copy(io.Discard, c)
		done <- result{got, time.Since(start), err}
	}()
	// bash's /dev/tcp connects to the forwarded port; head makes the bytes.
	script := "head -c " + strconv.FormatInt(n, 10) + " /dev/zero | bash -c 'cat >/dev/tcp/127.0.0.1/" + port + "'"
	if out, err := conn.Run(ctx, script); err != nil {
		return 0, 0, fmt.Errorf("sending on the node: %w (%s)", err, out)
	}
	r := <-done
	if r.err == nil && r.n != n {
		r.err = errors.New("the stream ended after " + strconv.FormatInt(r.n, 10) + " bytes")
	}
	return r.n, r.took, r.err
}
