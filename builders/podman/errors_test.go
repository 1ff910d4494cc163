package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/containers/podman/v5/pkg/errorhandling"

	"github.com/farmbuild/farm/errdefs"
)

func TestEngineReported(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"stream error record", errors.New("creating build container: initializing source docker://127.0.0.1:1/x: pinging container registry 127.0.0.1:1: Get \"https://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"), true},
		{"HTTP error answer", &errorhandling.ErrorModel{Message: "no such file", ResponseCode: 500}, true},
		{"server quit", fmt.Errorf("server probably quit: %w", io.ErrUnexpectedEOF), false},
		{"broken stream", fmt.Errorf("decoding stream: %w", io.EOF), false},
		{"bare EOF", io.EOF, false},
		{"canceled", context.Canceled, false},
		{"none", nil, false},
	} {
		var reported *errdefs.EngineError
		if got := errors.As(engineReported(tc.err), &reported); got != tc.want {
			t.Errorf("%s: engine reported = %v, want %v", tc.name, got, tc.want)
		}
		if tc.err != nil && engineReported(tc.err).Error() != tc.err.Error() {
			t.Errorf("%s: the message must stay the engine's: %q", tc.name, engineReported(tc.err))
		}
	}
}

func TestContainerLayersReadsBothLists(t *testing.T) {
	// containers.json, then volatile-containers.json (where podman 5's
	// storage keeps build containers).
	data := []byte(`[{"id":"a","layer":"la","names":["x"]}]` + "\n" + `[{"id":"b","layer":"lb"},{"id":"c","layer":"lc"}]`)
	got, err := containerLayers(data)
	if err != nil || len(got) != 3 || got[1].ID != "b" || got[2].Layer != "lc" {
		t.Errorf("containerLayers = %+v, %v", got, err)
	}
	if got, err := containerLayers(nil); err != nil || len(got) != 0 {
		t.Errorf("no lists: %+v, %v", got, err)
	}
	if _, err := containerLayers([]byte(`[{"id":`)); err == nil {
		t.Error("a damaged list must be an error")
	}
}

func TestNewContainers(t *testing.T) {
	got := newContainers(map[string]bool{"a": true, "b": true}, map[string]bool{"b": true, "c": true})
	if len(got) != 1 || got[0] != "c" {
		t.Errorf("newContainers = %v, want [c]", got)
	}
}
