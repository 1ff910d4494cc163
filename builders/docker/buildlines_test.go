package docker

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/farmbuild/farm/logline"
)

// classicStream is a classic builder's JSON stream with these stream
// texts, then the image ID.
func classicStream(texts ...string) *bytes.Buffer {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, t := range texts {
		_ = enc.Encode(map[string]string{"stream": t})
	}
	_ = enc.Encode(map[string]any{"aux": map[string]string{"ID": "sha256:1d"}})
	return &b
}

// buildKitStream is a BuildKit stream: one started step "[1/1] RUN x",
// its output in these messages, the step completed, then the image ID.
func buildKitStream(msgs ...string) *bytes.Buffer {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	trace := func(status []byte) {
		_ = enc.Encode(map[string]any{"id": "moby.buildkit.trace", "aux": base64.StdEncoding.EncodeToString(status)})
	}
	vertex := func(fields ...protowire.Number) []byte {
		var v []byte
		v = protowire.AppendTag(v, 1, protowire.BytesType)
		v = protowire.AppendString(v, "sha256:v1")
		v = protowire.AppendTag(v, 3, protowire.BytesType)
		v = protowire.AppendString(v, "[1/1] RUN x")
		for _, f := range fields {
			v = protowire.AppendTag(v, f, protowire.BytesType)
			v = protowire.AppendBytes(v, nil)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), v)
	}
	trace(vertex(5))
	for _, m := range msgs {
		var l []byte
		l = protowire.AppendTag(l, 1, protowire.BytesType)
		l = protowire.AppendString(l, "sha256:v1")
		l = protowire.AppendTag(l, 4, protowire.BytesType)
		l = protowire.AppendString(l, m)
		trace(protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), l))
	}
	trace(vertex(5, 6))
	_ = enc.Encode(map[string]any{"id": "moby.image.id", "aux": map[string]string{"ID": "sha256:1d"}})
	return &b
}

var readers = map[string]struct {
	read   func(r *bytes.Buffer, log func(string)) (string, string, error)
	stream func(msgs ...string) *bytes.Buffer
}{
	"classic":  {func(r *bytes.Buffer, log func(string)) (string, string, error) { return readBuildStream(r, log) }, classicStream},
	"buildkit": {func(r *bytes.Buffer, log func(string)) (string, string, error) { return readBuildKitStream(r, log) }, buildKitStream},
}

// A node that sends megabytes without a newline gets one line cut at
// logline.MaxLine, read in memory linear in the stream (it used to be
// quadratic: each message re-copied the line so far).
func TestBuildStreamLongLineIsCut(t *testing.T) {
	for name, rd := range readers {
		t.Run(name, func(t *testing.T) {
			chunk := strings.Repeat("x", 4096)
			msgs := make([]string, 0, 513)
			for range 512 {
				msgs = append(msgs, chunk)
			}
			msgs = append(msgs, "\nnext\n")
			stream := rd.stream(msgs...)
			size := stream.Len()
			var lines []string
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, _, err := rd.read(stream, func(l string) { lines = append(lines, l) }); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > uint64(16*size) {
				t.Errorf("reading a %d-byte stream allocated %d bytes", size, got)
			}
			want := strings.Repeat("x", logline.MaxLine) + logline.Marker(logline.MaxLine)
			var found bool
			for _, l := range lines {
				if len(l) > len(want) {
					t.Errorf("a line of %d bytes", len(l))
				}
				found = found || l == want
			}
			if !found || lines[len(lines)-1] != "next" {
				t.Errorf("no line cut at 64 KiB, or no next line: %d lines", len(lines))
			}
		})
	}
}

// Progress bars redraw with "\r": each redraw is a line of its own.
func TestBuildStreamCarriageReturnEndsALine(t *testing.T) {
	for name, rd := range readers {
		t.Run(name, func(t *testing.T) {
			var lines []string
			if _, _, err := rd.read(rd.stream("get\r\n10%\r", "20%\rdone\n"), func(l string) { lines = append(lines, l) }); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(lines, "|"); !strings.HasSuffix(got, "get|10%|20%|done") {
				t.Errorf("lines = %q", lines)
			}
		})
	}
}
