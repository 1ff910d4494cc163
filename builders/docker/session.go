package docker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/filesync"
	"github.com/moby/moby/api/types/registry"
	"google.golang.org/grpc"

	"github.com/farmbuild/farm/engine"
)

// A BuildKit engine gets the build context as buildx and the docker CLI
// send it: farm opens a session (POST /session, hijacked to HTTP/2 gRPC)
// that offers BuildKit's file sync, and each build call names it
// (remote=client-session). BuildKit keeps what it synced under the
// session's shared key and the local's name, and the next sync moves only
// what changed (tonistiigi/fsutil's diff copy: file metadata, then the
// files that differ). The session offers only one more service, the
// registry credentials farm gave the node's build (sessionauth.go): no
// secrets, no SSH agent.

// sessionDialTimeout bounds opening the session.
const sessionDialTimeout = 30 * time.Second

// sharedKey is the key under which BuildKit keeps this client's copy of
// the context in dir: one per client and directory, which no other client
// of the node can name without the client's secret ID. Without an ID it
// is new each time, and the node gets the whole context.
func sharedKey(clientID, dir string) string {
	if clientID == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	h := sha256.Sum256([]byte(clientID + "\x00" + dir))
	return hex.EncodeToString(h[:])
}

// contextSession is a session open to the engine for one node's build,
// used by each of its platforms' build calls.
type contextSession struct {
	s    *session.Session
	sync *timedSync
}

// openSession opens a session offering req's context and Containerfile,
// and auths to BuildKit's pulls.
func (e *Engine) openSession(ctx context.Context, req engine.NodeBuild, auths map[string]registry.AuthConfig) (*contextSession, error) {
	dir, err := filepath.Abs(req.ContextDir)
	if err != nil {
		return nil, err
	}
	excludes := req.Excludes
	if excludes == nil {
		if excludes, err = readIgnore(dir); err != nil {
			return nil, err
		}
	}
	cfs, err := contextFS(dir, excludes)
	if err != nil {
		return nil, err
	}
	provider, ok := filesync.NewFSSyncProvider(filesync.StaticDirSource{
		localContext:    cfs,
		localDockerfile: fileFS{path: req.Containerfile},
	}).(filesync.FileSyncServer)
	if !ok {
		return nil, errors.New("BuildKit's file sync is not a gRPC service")
	}
	s, err := session.NewSession(ctx, sharedKey(req.ClientID, dir))
	if err != nil {
		return nil, err
	}
	ts := &timedSync{FileSyncServer: provider}
	s.Allow(ts)
	var log func(string)
	if req.Log != nil {
		log = func(line string) { req.Log(nil, line) }
	}
	s.Allow(newRegistryAuth(auths, log))
	dialed := make(chan error, 1)
	go func() {
		_ = s.Run(ctx, func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, sessionDialTimeout)
			defer cancel()
			c, err := e.api.DialHijack(dctx, "/session", proto, meta)
			dialed <- err
			return c, err
		})
		select { // ended before it dialed
		case dialed <- errors.New("the session ended before it was opened"):
		default:
		}
	}()
	if err := <-dialed; err != nil {
		s.Close()
		return nil, fmt.Errorf("opening a BuildKit session: %w", err)
	}
	return &contextSession{s: s, sync: ts}, nil
}

// Close ends the session.
func (cs *contextSession) Close() { _ = cs.s.Close() }

// timedSync is the session's file sync, timed: how long the engine spent
// syncing, for the "sent the build context" line.
type timedSync struct {
	filesync.FileSyncServer
	busy atomic.Int64 // nanoseconds
}

// Register offers the file sync on the session.
func (t *timedSync) Register(s *grpc.Server) { filesync.RegisterFileSyncServer(s, t) }

// DiffCopy serves one sync of a local ("context" or "dockerfile").
func (t *timedSync) DiffCopy(s filesync.FileSync_DiffCopyServer) error {
	start := time.Now()
	defer func() { t.busy.Add(int64(time.Since(start))) }()
	return t.FileSyncServer.DiffCopy(s)
}
