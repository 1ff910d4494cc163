package farm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"go.podman.io/image/v5/pkg/docker/config"
	"go.podman.io/image/v5/types"
)

// Credentials returns the client's credentials for one registry from
// authFile ("" for the default locations); empty when there are none.
func Credentials(authFile, registry string) (types.DockerAuthConfig, error) {
	sys := &types.SystemContext{AuthFilePath: authFile}
	c, err := config.GetCredentials(sys, registry)
	if err != nil {
		return types.DockerAuthConfig{}, fmt.Errorf("reading credentials for %s: %w", registry, err)
	}
	return c, nil
}

// WriteAuthSubset writes, into dir, an auth file holding only the
// client's credentials for the given registries, and returns its path. A
// node gets exactly the credentials its build needs.
func WriteAuthSubset(dir, authFile string, registries []string) (string, error) {
	auths := map[string]string{}
	for _, r := range registries {
		c, err := Credentials(authFile, r)
		if err != nil {
			return "", err
		}
		if c.Username == "" && c.IdentityToken == "" {
			continue
		}
		if c.IdentityToken != "" {
			return "", fmt.Errorf("credentials for %s are an identity token, which farm cannot forward yet: log in with a username and password", r)
		}
		auths[r] = c.Username + ":" + c.Password
	}
	return writeAuthFile(dir, "auth-*.json", auths)
}

// writeAuthFile writes, into dir, an auth file holding the USER:PASSWORD
// of each registry, and returns its path.
func writeAuthFile(dir, pattern string, auths map[string]string) (string, error) {
	type entry struct {
		Auth string `json:"auth"`
	}
	entries := map[string]entry{}
	for r, userPass := range auths {
		entries[r] = entry{Auth: base64.StdEncoding.EncodeToString([]byte(userPass))}
	}
	data, err := json.Marshal(map[string]any{"auths": entries})
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", fmt.Errorf("writing an auth file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", fmt.Errorf("writing an auth file: %w", err)
	}
	return filepath.Clean(f.Name()), f.Close()
}
