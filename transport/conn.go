// Package transport reaches a node: connection URIs, OpenSSH-compatible
// configuration and strict host-key checking, the SSH connection itself
// (the engine socket dialed through it, commands, forwards), and a local
// unix socket for nodes on this machine.
package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Conn is an open connection to one node: an SSH client (none for a local
// unix socket) and the path of the engine's API socket on that machine.
// It is safe for concurrent use.
type Conn struct {
	// Name is the connection's name.
	Name string
	// Dest is the parsed destination, with the socket filled in.
	Dest   Destination
	client *ssh.Client
	// hostKey is the SHA256 fingerprint of the host key the node showed.
	hostKey string
	sent    atomic.Int64
}

// Identity names the node by what it is rather than by the connection's
// name, which the user may point elsewhere: the host key it showed and
// the engine's socket (for a local socket, its path). Records key the
// images farm built by it.
func (c *Conn) Identity() string {
	if c.hostKey == "" {
		return "unix:" + c.Dest.Socket
	}
	return c.hostKey + ":" + c.Dest.Socket
}

// Node is the connection's name.
func (c *Conn) Node() string { return c.Name }

// Socket is the engine's API socket path on the node.
func (c *Conn) Socket() string { return c.Dest.Socket }

// Sent is how many bytes went to the node so far: to the engine through
// DialEngine's streams and Forward's, and to the scripts RunInput ran (the
// build context, mostly, while a build runs).
func (c *Conn) Sent() int64 { return c.sent.Load() }

// Connect opens the connection called name to uri (ssh:// or unix://),
// authenticating with the identity file when one is given. For an ssh
// destination without a socket path the engine socket is discovered on
// the host.
func Connect(ctx context.Context, name, uri, identity string) (*Conn, error) {
	d, err := ParseDestination(uri)
	if err != nil {
		return nil, err
	}
	conn := &Conn{Name: name, Dest: d}
	if d.Scheme == "unix" {
		return conn, nil
	}
	t, err := resolveSSH(d, identity)
	if err != nil {
		return nil, err
	}
	conn.client, conn.hostKey, err = dialSSH(ctx, t)
	if err != nil {
		return nil, err
	}
	go keepAlive(conn.client, keepAliveInterval, keepAliveMisses)
	if conn.Dest.Socket == "" {
		sock, err := conn.discoverSocket(ctx)
		if err != nil {
			conn.Close()
			return nil, err
		}
		conn.Dest.Socket = sock
	}
	return conn, nil
}

// Keepalive settings: a node whose SSH server does not answer for
// keepAliveInterval*keepAliveMisses is taken for gone, and its connection
// is closed so that builds on it fail over instead of hanging.
const (
	keepAliveInterval = 10 * time.Second
	keepAliveMisses   = 3
)

// keepAlive sends OpenSSH keepalive requests and closes the client when
// the server stops answering.
func keepAlive(c *ssh.Client, every time.Duration, misses int) {
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		answered := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		select {
		case err := <-answered:
			if err != nil {
				return // closed
			}
		case <-time.After(every * time.Duration(misses)):
			c.Close()
			return
		}
	}
}

// Close closes the SSH connection.
func (c *Conn) Close() error {
	if c.client == nil {
		return nil
	}
	return c.client.Close()
}

// DialEngine opens a stream to the engine's API socket; Sent counts what
// is written to it.
func (c *Conn) DialEngine(ctx context.Context) (net.Conn, error) {
	if c.client == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", c.Dest.Socket)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: conn, n: &c.sent}, nil
	}
	conn, err := c.client.DialContext(ctx, "unix", c.Dest.Socket)
	if err != nil {
		return nil, fmt.Errorf("opening engine socket %s on %s: %w", c.Dest.Socket, c.Dest.Host, err)
	}
	return &countingConn{Conn: conn, n: &c.sent}, nil
}

// Run runs a POSIX shell script with /bin/sh on the node's host (locally
// for a unix destination), whatever the user's login shell there, and
// returns its standard output. A non-zero exit is an error
// that carries the script's standard error.
func (c *Conn) Run(ctx context.Context, script string) ([]byte, error) {
	return c.run(ctx, script, nil)
}

// RunInput runs a script as Run does, with stdin as its standard input.
// What it reads of stdin counts in Sent.
func (c *Conn) RunInput(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	if stdin == nil {
		return c.run(ctx, script, nil)
	}
	return c.run(ctx, script, &countingReader{r: stdin, n: &c.sent})
}

func (c *Conn) run(ctx context.Context, script string, stdin io.Reader) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	var err error
	if c.client == nil {
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
		err = cmd.Run()
	} else {
		err = c.runSSH(ctx, script, stdin, &stdout, &stderr)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("%w: %s", err, msg)
		}
		return stdout.Bytes(), err
	}
	return stdout.Bytes(), nil
}

func (c *Conn) runSSH(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) error {
	command, err := shWrap(script)
	if err != nil {
		return err
	}
	sess, err := c.client.NewSession()
	if err != nil {
		return fmt.Errorf("opening ssh session: %w", err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, stdout, stderr
	stop := context.AfterFunc(ctx, func() {
		_ = sess.Signal(ssh.SIGTERM)
		sess.Close()
	})
	defer stop()
	err = sess.Run(command)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// discoverSocket finds the engine's API socket on the host as podman does:
// ask podman for its remote socket path, else look for docker's socket.
func (c *Conn) discoverSocket(ctx context.Context) (string, error) {
	const script = `if command -v podman >/dev/null 2>&1; then
  p=$(podman info --format '{{.Host.RemoteSocket.Path}}' 2>/dev/null) && [ -n "$p" ] && { echo "$p"; exit 0; }
fi
for s in /run/docker.sock /var/run/docker.sock; do [ -S "$s" ] && { echo "$s"; exit 0; }; done
exit 3`
	out, err := c.Run(ctx, script)
	sock := strings.TrimPrefix(strings.TrimSpace(string(out)), "unix://")
	if err != nil || !strings.HasPrefix(sock, "/") {
		return "", fmt.Errorf("no podman or docker engine socket found on %s: give the socket path in the URI, e.g. ssh://user@%s/run/podman/podman.sock", c.Dest.Host, c.Dest.Host)
	}
	return sock, nil
}

// Forward serves the engine socket on a local unix socket inside dir, for
// client libraries that can only dial a socket path. The returned stop
// function closes the listener and every forwarded stream.
func (c *Conn) Forward(ctx context.Context, dir string) (string, func(), error) {
	if c.client == nil {
		return c.Dest.Socket, func() {}, nil
	}
	path := filepath.Join(dir, "engine.sock")
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return "", nil, fmt.Errorf("forwarding %s: %w", c.Name, err)
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			local, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.pipe(ctx, local)
			}()
		}
	}()
	stop := func() {
		cancel()
		ln.Close()
		wg.Wait()
		_ = os.Remove(path)
	}
	return path, stop, nil
}

// pipe copies between a local stream and a new stream to the engine until
// either side closes or ctx ends.
func (c *Conn) pipe(ctx context.Context, local net.Conn) {
	defer local.Close()
	remote, err := c.DialEngine(ctx)
	if err != nil {
		return
	}
	defer remote.Close()
	stop := context.AfterFunc(ctx, func() { local.Close(); remote.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(remote, local)
		closeWrite(remote)
		done <- struct{}{}
	}()
	go func() { _, _ = io.Copy(local, remote); closeWrite(local); done <- struct{}{} }()
	<-done
	<-done
}

func closeWrite(c net.Conn) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := c.(closeWriter); ok {
		if err := cw.CloseWrite(); err == nil || errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// ListenRemote listens on addr on the node's host, reverse-forwarded over
// the SSH connection (locally for a unix destination), so the node can
// reach a server of the client's there.
func (c *Conn) ListenRemote(addr string) (net.Listener, error) {
	if c.client == nil {
		return net.Listen("tcp", addr)
	}
	ln, err := c.client.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s on %s (the server needs AllowTcpForwarding): %w", addr, c.Dest.Host, err)
	}
	return ln, nil
}

// countingConn adds the bytes written through it to n as they pass.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// CloseWrite half-closes the stream where the stream can (an SSH channel,
// a unix socket), as the stream itself would.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// countingReader adds the bytes read through it to n as they pass.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
