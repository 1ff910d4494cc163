// Package builders opens the container engine behind a link and finds out
// from its API which kind it is. Each engine kind has its own package
// (podman, docker) implementing engine.Builder.
package builders

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/farmbuild/farm/builders/docker"
	"github.com/farmbuild/farm/builders/podman"
	"github.com/farmbuild/farm/engine"
)

// Kinds of engine.
const (
	KindPodman = "podman"
	KindDocker = "docker"
)

var _ engine.Opener = Open

// Open asks the engine behind c what it is and returns the matching
// builder: podman answers /_ping with a Libpod-API-Version header, docker
// does not.
func Open(ctx context.Context, c engine.Link) (engine.Builder, error) {
	kind, err := Detect(ctx, c)
	if err != nil {
		return nil, err
	}
	switch kind {
	case KindPodman:
		return podman.New(ctx, c)
	default:
		return docker.New(ctx, c)
	}
}

// Detect returns the kind of engine behind c.
func Detect(ctx context.Context, c engine.Link) (string, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.DialEngine(ctx) },
	}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://d/_ping", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("engine socket %s on %s does not answer (%w): is podman or docker listening there?", c.Socket(), c.Node(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("engine at %s answered /_ping with %s: is it a podman or docker API socket?", c.Socket(), resp.Status)
	}
	if resp.Header.Get("Libpod-Api-Version") != "" {
		return KindPodman, nil
	}
	if resp.Header.Get("Api-Version") != "" {
		return KindDocker, nil
	}
	return "", fmt.Errorf("engine at %s is neither podman nor docker (no API version in its /_ping answer)", c.Socket())
}
