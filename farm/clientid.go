package farm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// clientIDFile is the name of the file, in the directory ClientID is given,
// that holds this client's ID.
const clientIDFile = "client-id"

// ClientID returns this client's random ID, kept in dir (farm's state
// directory), creating it on first use. Drivers combine it with the
// context directory into the key under which an engine keeps a build
// context between builds (docker: the BuildKit session's shared key); it
// is secret, so that no other client of a node can name this client's
// context. Two farms creating it at once agree on one ID.
func ClientID(dir string) (string, error) {
	path := filepath.Join(dir, clientIDFile)
	if id, err := readClientID(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating the client ID: %w", err)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tmp, err := os.CreateTemp(dir, clientIDFile+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("creating the client ID: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(b) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A link fails where another farm made the file first: its ID wins.
		if err = os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		return "", fmt.Errorf("creating the client ID: %w", err)
	}
	return readClientID(path)
}

// readClientID reads and checks the client ID file.
func readClientID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(data))
	if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%s is not a farm client ID (64 hex digits): delete it and farm makes a new one", path)
	}
	return id, nil
}
