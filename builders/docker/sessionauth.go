package docker

import (
	"context"
	"sync"

	"github.com/moby/buildkit/session/auth"
	"github.com/moby/moby/api/types/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BuildKit takes the credentials it pulls FROM images with only from the
// build's session (X-Registry-Config is the classic builder's): when a
// registry asks for a login, BuildKit asks the session's auth service for
// that host's. farm's answers with the credentials farm gave the node's
// build (the registries its FROM lines name) and with nothing for any
// other host, as BuildKit's own provider answers for a host it has no
// login for.
//
// The token methods are not offered: FetchToken would have the client
// send the login to the token server the node names (a hostile node could
// name its own), and without GetTokenAuthority BuildKit asks Credentials
// and fetches its tokens itself (BuildKit v0.8.3 in docker 20.10 and
// v0.25 in docker 28 alike), with the login docker nodes always had.

// registryAuth is the session's auth service for one node's build.
type registryAuth struct {
	auth.UnimplementedAuthServer
	// auths are the node's credentials, by registry (as in the auth file).
	auths map[string]registry.AuthConfig
	// log receives one line for each registry whose login the node got.
	log func(string)

	mu   sync.Mutex
	told map[string]bool
}

var _ auth.AuthServer = (*registryAuth)(nil)

// newRegistryAuth answers with auths; log may be nil.
func newRegistryAuth(auths map[string]registry.AuthConfig, log func(string)) *registryAuth {
	return &registryAuth{auths: auths, log: log, told: map[string]bool{}}
}

// Register offers the auth service on the session.
func (a *registryAuth) Register(s *grpc.Server) { auth.RegisterAuthServer(s, a) }

// Credentials answers BuildKit's question for one registry host: the
// login for a registry of the map, and an empty answer (pull without a
// login) for any other host.
func (a *registryAuth) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	reg := authRegistry(req.GetHost())
	c, ok := a.auths[reg]
	if !ok || c.Username == "" || c.Password == "" {
		return &auth.CredentialsResponse{}, nil
	}
	a.mu.Lock()
	first := !a.told[reg]
	a.told[reg] = true
	a.mu.Unlock()
	if first && a.log != nil {
		a.log("gave the node the credentials for " + reg + " (a FROM registry of the build)")
	}
	return &auth.CredentialsResponse{Username: c.Username, Secret: c.Password}, nil
}

// FetchToken is not offered: the client would send the login to a token
// server the node names. BuildKit only calls it after GetTokenAuthority.
func (a *registryAuth) FetchToken(context.Context, *auth.FetchTokenRequest) (*auth.FetchTokenResponse, error) {
	return nil, status.Error(codes.Unimplemented, "farm does not fetch tokens for nodes")
}

// GetTokenAuthority is not offered: BuildKit then asks Credentials.
func (a *registryAuth) GetTokenAuthority(context.Context, *auth.GetTokenAuthorityRequest) (*auth.GetTokenAuthorityResponse, error) {
	return nil, status.Error(codes.Unimplemented, "farm does not sign tokens for nodes")
}

// VerifyTokenAuthority is not offered (no authority was given).
func (a *registryAuth) VerifyTokenAuthority(context.Context, *auth.VerifyTokenAuthorityRequest) (*auth.VerifyTokenAuthorityResponse, error) {
	return nil, status.Error(codes.Unimplemented, "farm does not sign tokens for nodes")
}

// dockerHubHost is the host BuildKit asks for Docker Hub's images, whose
// credentials are under docker.io.
const dockerHubHost = "registry-1.docker.io"

// authRegistry is the registry whose credentials a host asked for uses.
func authRegistry(host string) string {
	if host == dockerHubHost {
		return "docker.io"
	}
	return host
}
