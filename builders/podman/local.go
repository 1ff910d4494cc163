package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/manifests"
	"go.podman.io/image/v5/docker/reference"

	"github.com/farmbuild/farm/transport"
)

// LocalSocket is where the local podman's API socket is expected:
// CONTAINER_HOST when it names a unix socket, else podman's default for
// this user.
func LocalSocket() string {
	if h := os.Getenv("CONTAINER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	if os.Geteuid() == 0 {
		return "/run/podman/podman.sock"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "podman", "podman.sock")
	}
	return fmt.Sprintf("/run/user/%d/podman/podman.sock", os.Getuid())
}

// Local opens the podman of the machine farm runs on. When nothing listens
// on its socket, a transient `podman system service` is started on a
// private socket; the returned stop function ends it.
func Local(ctx context.Context, log *slog.Logger) (*Engine, func(), error) {
	if e, err := openUnix(ctx, "local", LocalSocket()); err == nil {
		return e, func() { e.Close() }, nil
	}
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil, nil, fmt.Errorf("no local podman: nothing listens on %s and podman is not installed: install podman, or use --push or --output type=oci,dest=DIR", LocalSocket())
	}
	dir, logFile, err := serviceDir()
	if err != nil {
		return nil, nil, err
	}
	sock := filepath.Join(dir, "podman.sock")
	cmd := serviceCommand(bin, sock)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	done, err := startService(cmd)
	if err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("starting a local podman service: %w", err)
	}
	log.Info("started a transient local podman service", "socket", sock, "pid", cmd.Process.Pid)
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logFile.Close()
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := openUnix(ctx, "local", sock)
		if err == nil {
			return e, func() { e.Close(); stop() }, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, nil, fmt.Errorf("the transient local podman service did not come up: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serviceDir makes the private directory (0700: only this user can reach
// the socket) that holds the transient service's socket and its log
// (0600), and opens the log.
func serviceDir() (string, *os.File, error) {
	dir, err := os.MkdirTemp("", "farm-local-")
	if err != nil {
		return "", nil, fmt.Errorf("making the local podman service's directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("making the local podman service's directory private: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "service.log"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("making the local podman service's log: %w", err)
	}
	return dir, logFile, nil
}

// serviceCommand is the transient podman service listening on sock, in a
// process group of its own (so that stopping it stops its children) and,
// on Linux, stopped by SIGTERM when farm dies.
func serviceCommand(bin, sock string) *exec.Cmd {
	cmd := exec.Command(bin, "system", "service", "--time=0", "unix://"+sock)
	cmd.SysProcAttr = serviceProcAttr()
	return cmd
}

// startService starts cmd and waits for it on an OS thread kept for that
// alone: Linux sends the parent-death signal when the thread that started
// the child ends, and Go ends a thread whose goroutine exits locked to it,
// which another goroutine could do on a shared one. done is closed once
// the service has exited.
func startService(cmd *exec.Cmd) (done <-chan struct{}, err error) {
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

func openUnix(ctx context.Context, name, sock string) (*Engine, error) {
	if _, err := os.Stat(sock); err != nil {
		return nil, err
	}
	conn, err := transport.Connect(ctx, name, "unix://"+sock, "")
	if err != nil {
		return nil, err
	}
	return New(ctx, conn)
}

// Load loads an image from an OCI archive stream.
func (e *Engine) Load(ctx context.Context, r io.Reader) error {
	_, err := images.Load(e.ctx(ctx), r)
	return err
}

// CreateList creates a manifest list holding the images, replacing a list
// of that name, or taking the name from an image that has it.
func (e *Engine) CreateList(ctx context.Context, name string, imageIDs []string) (string, error) {
	c := e.ctx(ctx)
	if ok, err := manifests.Exists(c, name, nil); err == nil && ok {
		if _, err := manifests.Delete(c, name); err != nil {
			return "", fmt.Errorf("replacing the existing list %s: %w", name, err)
		}
	} else if ok, err := images.Exists(c, name, nil); err == nil && ok {
		if err := untag(c, name); err != nil {
			return "", fmt.Errorf("taking the name %s from an existing image: %w", name, err)
		}
	}
	id, err := manifests.Create(c, name, nil, nil)
	if err != nil {
		return "", err
	}
	for _, img := range imageIDs {
		if _, err := manifests.Add(c, name, new(manifests.AddOptions).WithImages([]string{"containers-storage:" + img})); err != nil {
			return "", fmt.Errorf("adding %s: %w", img, err)
		}
	}
	return id, nil
}

// Tag adds a name to an image or list.
func (e *Engine) Tag(ctx context.Context, id, name string) error {
	repo, tag, err := splitName(name)
	if err != nil {
		return err
	}
	return images.Tag(e.ctx(ctx), id, tag, repo, nil)
}

func untag(ctx context.Context, name string) error {
	repo, tag, err := splitName(name)
	if err != nil {
		return err
	}
	return images.Untag(ctx, name, tag, repo, nil)
}

// splitName splits a name into repository and tag (latest when none).
func splitName(name string) (string, string, error) {
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", "", fmt.Errorf("name %q: %w", name, err)
	}
	n = reference.TagNameOnly(n)
	t, ok := n.(reference.Tagged)
	if !ok {
		return "", "", errors.New("name " + name + " has no tag")
	}
	return n.Name(), t.Tag(), nil
}

// Pull pulls ref (from farm's own store, over plain HTTP on loopback) and
// returns the image's ID. Layers already in local storage are not fetched.
func (e *Engine) Pull(ctx context.Context, ref string) (string, error) {
	ids, err := images.Pull(e.ctx(ctx), ref, new(images.PullOptions).WithSkipTLSVerify(true).WithQuiet(true))
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", errors.New("podman pulled no image from " + ref)
	}
	e.dropPulledName(ctx, ids[0], ref)
	return ids[0], nil
}

// dropPulledName takes away the name a pull from farm's store gave the
// image (127.0.0.1:PORT/farm/store@DIGEST, shown as a <none> tag), so that
// the user sees only the names they gave, as with podman farm. An image
// that has any other name keeps its names.
func (e *Engine) dropPulledName(ctx context.Context, id, ref string) {
	if !storeName.MatchString(ref) {
		return
	}
	img, err := images.GetImage(e.ctx(ctx), id, nil)
	if err != nil {
		return
	}
	for _, name := range append(img.RepoTags, img.RepoDigests...) {
		if !storeName.MatchString(name) {
			return
		}
	}
	_ = images.Untag(e.ctx(ctx), id, "", "", nil)
}

// storeName matches the names pulls from farm's store (served on
// loopback for the occasion) give images.
var storeName = regexp.MustCompile(`^127\.0\.0\.1:[0-9]+/farm/store[:@]`)
