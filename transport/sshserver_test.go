package transport

import (
	"errors"
	"net"
	"os/exec"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testSSHServer is a minimal in-process sshd: like OpenSSH it runs every
// exec request as `loginShell -c COMMAND`.
type testSSHServer struct {
	ln         net.Listener
	loginShell string
	wg         sync.WaitGroup
}

// startSSHServer serves SSH on loopback until the test ends and returns a
// Conn to it.
func startSSHServer(t *testing.T, loginShell string) *Conn {
	t.Helper()
	_, hostSigner := newKey(t)
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testSSHServer{ln: ln, loginShell: loginShell}
	s.wg.Add(1)
	go s.serve(cfg)
	client, err := ssh.Dial("tcp", ln.Addr().String(), &ssh.ClientConfig{
		User:            "u",
		HostKeyCallback: ssh.FixedHostKey(hostSigner.PublicKey()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		ln.Close()
		s.wg.Wait()
	})
	return &Conn{Name: "test", Dest: Destination{Scheme: "ssh", Host: "127.0.0.1"}, client: client}
}

func (s *testSSHServer) serve(cfg *ssh.ServerConfig) {
	defer s.wg.Done()
	for {
		raw, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, chans, reqs, err := ssh.NewServerConn(raw, cfg)
			if err != nil {
				raw.Close()
				return
			}
			go ssh.DiscardRequests(reqs)
			for nc := range chans {
				if nc.ChannelType() != "session" {
					_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
					continue
				}
				ch, chReqs, err := nc.Accept()
				if err != nil {
					continue
				}
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.session(ch, chReqs)
				}()
			}
		}()
	}
}

// session runs the first exec request of a session in the login shell.
func (s *testSSHServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command(s.loginShell, "-c", payload.Command)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		status := 0
		if err := cmd.Run(); err != nil {
			status = 255
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			}
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
		go ssh.DiscardRequests(reqs)
		return
	}
}
