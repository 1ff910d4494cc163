// Package docker drives a Docker engine through the Docker Engine API
// client, over a farm connection, negotiating the API version down to the
// engine's (Docker 20.10 speaks 1.41).
package docker

import (
	"context"
	"fmt"
	"net"

	"github.com/moby/moby/client"

	"github.com/farmbuild/farm/engine"
	"github.com/farmbuild/farm/platform"
)

// Kind is the engine kind this package drives.
const Kind = "docker"

var (
	_ engine.Builder = (*Engine)(nil)
	_ engine.Tester  = (*Engine)(nil)
)

// Engine is a Docker engine reached through a farm connection.
type Engine struct {
	conn engine.Link
	api  *client.Client
}

// New opens a Docker API client that dials the engine through conn.
func New(ctx context.Context, conn engine.Link) (*Engine, error) {
	api, err := client.New(
		client.WithHost("unix:///var/run/docker.sock"), // only names the scheme; dialing goes through conn
		client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) { return conn.DialEngine(ctx) }),
	)
	if err != nil {
		return nil, fmt.Errorf("docker API client for %s: %w", conn.Node(), err)
	}
	if _, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, fmt.Errorf("docker API on %s: %w", conn.Node(), err)
	}
	return &Engine{conn: conn, api: api}, nil
}

// Close closes the API client.
func (e *Engine) Close() error { return e.api.Close() }

// Info reports the engine's facts. Docker does not report emulation, so
// binfmt_misc is read from the host.
func (e *Engine) Info(ctx context.Context) (engine.EngineInfo, error) {
	res, err := e.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return engine.EngineInfo{}, fmt.Errorf("docker info on %s: %w", e.conn.Node(), err)
	}
	i := res.Info
	return engine.EngineInfo{
		Kind:        Kind,
		Version:     i.ServerVersion,
		APIVersion:  e.api.ClientVersion(),
		Native:      platform.FromEngine(i.OSType, i.Architecture, ""),
		CPUs:        i.NCPU,
		MemoryBytes: i.MemTotal,
		StorageRoot: i.DockerRootDir,
	}, nil
}

// Ping checks once that the engine answers.
func (e *Engine) Ping(ctx context.Context) error {
	_, err := e.api.Ping(ctx, client.PingOptions{})
	return err
}
