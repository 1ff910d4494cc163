// Command tcpcount forwards a local TCP port to another address and
// counts the bytes that go through it, for the benchmarks: make bench
// puts it in front of the test farm's sshd to measure what crosses SSH.
//
//	tcpcount LISTEN TARGET COUNTFILE
//
// It prints the address it listens on, then keeps COUNTFILE holding
// "SENT RECEIVED" (bytes towards TARGET and back), rewritten whenever a
// connection closes.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: tcpcount LISTEN TARGET COUNTFILE")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpcount:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	var sent, received atomic.Int64
	var mu sync.Mutex
	write := func() {
		mu.Lock()
		defer mu.Unlock()
		tmp := os.Args[3] + ".tmp"
		if os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", sent.Load(), received.Load()), 0o644) == nil {
			_ = os.Rename(tmp, os.Args[3])
		}
	}
	write()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer write()
			defer c.Close()
			up, err := net.Dial("tcp", os.Args[2])
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{})
			go func() {
				n, _ := io.Copy(c, up)
				received.Add(n)
				c.Close()
				close(done)
			}()
			n, _ := io.Copy(up, c)
			sent.Add(n)
			up.Close()
			<-done
		}()
	}
}
