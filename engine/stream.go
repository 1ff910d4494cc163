package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ReadPushStream reads an engine's push answer, a stream of JSON messages
// (podman's and docker's alike), to its end: errors come inside it, after
// a successful status, and a stream that cannot be read to its end is no
// success either.
func ReadPushStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("the engine's answer cannot be read: %w", err)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
