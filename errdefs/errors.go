// Package errdefs holds farm's sentinel errors and typed errors, in one
// place that imports nothing of farm's, so that every package can wrap
// them and cmd can map them to exit codes.
package errdefs

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors returned (wrapped) by this package. Test with errors.Is.
var (
	// ErrNotFound means a named connection or farm does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a connection or farm of that name already exists.
	ErrExists = errors.New("already exists")
	// ErrReadOnly means a connection or farm lives in containers.conf, which
	// farm reads but never changes.
	ErrReadOnly = errors.New("farm changes only podman-connections.json")
	// ErrInvalidDestination means a connection URI cannot be used.
	ErrInvalidDestination = errors.New("invalid destination")
	// ErrInvalidPlatform means a platform string cannot be parsed.
	ErrInvalidPlatform = errors.New("invalid platform")
	// ErrHostKey means the SSH server's host key is unknown, changed or revoked.
	ErrHostKey = errors.New("host key verification failed")
	// ErrNodeDown means at least one node of a farm could not be reached.
	ErrNodeDown = errors.New("node unreachable")
	// ErrCanceled means a build was stopped because another platform failed.
	ErrCanceled = errors.New("canceled because another platform failed (use --keep-going to finish the others)")
	// ErrNoConnections means there is no connection to act on.
	ErrNoConnections = errors.New("no connections configured")
)

// HostKeyError describes a host key that strict checking refused. It wraps
// ErrHostKey and tells the user exactly how to trust the host when that is
// what they want.
type HostKeyError struct {
	// Host is the address as written in known_hosts, e.g. "[127.0.0.1]:2222".
	Host string
	// Fingerprint is the SHA256 fingerprint of the key the server offered.
	Fingerprint string
	// KeyType is the type of the key the server offered, e.g. "ssh-ed25519".
	KeyType string
	// KnownHosts is the file that was consulted and that a trust command writes to.
	KnownHosts string
	// Changed is true when known_hosts holds a different key for the host.
	Changed bool
	// Line is the known_hosts line of the conflicting key when Changed.
	Line string
	// KnownHostsLine is the known_hosts line for the offered key, as
	// OpenSSH writes it: "host" for port 22, else "[host]:port", then the
	// key.
	KnownHostsLine string
	// TrustCommand is a shell command that appends KnownHostsLine to KnownHosts.
	TrustCommand string
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("host key of %s has CHANGED (now %s %s, %s holds another key at %s): this may be an attack; if the host was really re-keyed, remove the old entry with: ssh-keygen -R '%s' -f %s",
			e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, e.Line, e.Host, e.KnownHosts)
	}
	return fmt.Sprintf("host key of %s is not known (%s %s): check that this is the server's fingerprint (on the server: %s), then trust the key with: %s",
		e.Host, e.KeyType, e.Fingerprint, serverFingerprintCommand(e.KeyType), e.TrustCommand)
}

// serverFingerprintCommand is the command that prints, on the server, the
// fingerprint of its host key of type keyType.
func serverFingerprintCommand(keyType string) string {
	name := map[string]string{"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}[keyType]
	if strings.HasPrefix(keyType, "ecdsa-") {
		name = "ecdsa"
	}
	if name == "" {
		return "ssh-keygen -lf on its host key"
	}
	return "ssh-keygen -lf /etc/ssh/ssh_host_" + name + "_key.pub"
}

// Unwrap makes errors.Is(err, ErrHostKey) true.
func (e *HostKeyError) Unwrap() error { return ErrHostKey }

// BuildError is the failure of one platform's build on one node.
type BuildError struct {
	// Platform is the platform that failed, as os/arch[/variant].
	Platform string
	// Node is the node that built it.
	Node string
	// Step is the Containerfile step that failed, when known.
	Step string
	// Err is the underlying error.
	Err error
}

func (e *BuildError) Error() string {
	if e.Step != "" {
		return fmt.Sprintf("building %s on %s: step %s: %v", e.Platform, e.Node, e.Step, e.Err)
	}
	return fmt.Sprintf("building %s on %s: %v", e.Platform, e.Node, e.Err)
}

// Unwrap returns the underlying error.
func (e *BuildError) Unwrap() error { return e.Err }

// EngineError is an error the engine itself reported about a build it ran:
// a failed step, a base image it could not pull, a Containerfile it
// rejected. The connection worked, so it is a build failure, never a sign
// of a dead node or a reason to build again. Its message is the engine's.
type EngineError struct {
	// Err is the engine's error.
	Err error
}

func (e *EngineError) Error() string { return e.Err.Error() }

// Unwrap returns the engine's error.
func (e *EngineError) Unwrap() error { return e.Err }

// More sentinels, for the build.
var (
	// ErrUsage means the build was asked for something that cannot work
	// as given (a missing Containerfile, no tag, ...).
	ErrUsage = errors.New("bad usage")
	// ErrNoCapableNode means no reachable node can build a requested platform.
	ErrNoCapableNode = errors.New("no node can build a requested platform")
	// ErrTestFailed means a --test command failed in a built image; nothing
	// was stored or pushed.
	ErrTestFailed = errors.New("test failed")
	// ErrOutput means the images were built but storing or pushing the
	// result failed; nothing was tagged.
	ErrOutput = errors.New("storing the result failed")
)

// FileError is a problem in a definition file the user wrote (a bake
// file, say), or in a value that overrides one: one line naming the file
// and line where known, then the problem. It is the user's to fix, found
// before any node is contacted.
type FileError struct {
	// File is the file as the user named it, or "" when the problem is
	// not in a file (a --set value, a target asked for on the command
	// line).
	File string
	// Line is the 1-based line of the problem in File, 0 when unknown.
	Line int
	// Problem says what is wrong, on one line.
	Problem string
}

func (e *FileError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
	case e.File != "":
		return e.File + ": " + e.Problem
	default:
		return e.Problem
	}
}
