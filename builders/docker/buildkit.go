package docker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/farmbuild/farm/errdefs"
	"github.com/farmbuild/farm/logline"
)

// BuildKit reports progress as "moby.buildkit.trace" messages whose aux is
// a base64 protobuf StatusResponse (github.com/moby/buildkit control API).
// farm reads the few fields it needs with protowire instead of importing
// BuildKit: vertexes (field 1: digest 1, name 3, cached 4, started 5,
// completed 6, error 7) and logs (field 3: vertex 1, msg 4).

// bkVertex is what farm tracks of one BuildKit step.
type bkVertex struct {
	name              string
	announced, closed bool
	// lines splits the step's output; nil until it has some.
	lines *logline.Splitter
}

// buildkitStream turns BuildKit's stream into output lines, like
// `docker build --progress plain`. Every line is cut at logline.MaxLine
// and "\r" ends a line.
type buildkitStream struct {
	vertexes map[string]*bkVertex
	// raw gets the lines of steps' output, cut already; log cuts first.
	raw, log func(string)
	step     string
}

// readBuildKitStream forwards a BuildKit build's output and returns the
// image ID, the last step started ("2/3 : RUN make") and the build error.
func readBuildKitStream(r io.Reader, log func(string)) (string, string, error) {
	s := &buildkitStream{vertexes: map[string]*bkVertex{}, raw: log, log: func(line string) { log(logline.Cut(line, logline.MaxLine)) }}
	dec := json.NewDecoder(r)
	var id string
	for {
		var m struct {
			ID    string          `json:"id"`
			Aux   json.RawMessage `json:"aux"`
			Error string          `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return id, s.step, fmt.Errorf("reading the build stream: %w", err)
		}
		switch m.ID {
		case "moby.buildkit.trace":
			var b64 string
			if json.Unmarshal(m.Aux, &b64) == nil {
				if raw, err := base64.StdEncoding.DecodeString(b64); err == nil {
					s.status(raw)
				}
			}
		case "moby.image.id":
			var aux struct{ ID string }
			if json.Unmarshal(m.Aux, &aux) == nil {
				id = aux.ID
			}
		}
		if m.Error != "" {
			return id, s.step, &errdefs.EngineError{Err: errors.New(m.Error)}
		}
	}
	if id == "" {
		return "", s.step, errors.New("docker reported no image")
	}
	return id, s.step, nil
}

// status reads one StatusResponse.
func (s *buildkitStream) status(b []byte) {
	eachField(b, func(num protowire.Number, v []byte) {
		switch num {
		case 1:
			s.vertex(v)
		case 3:
			s.vertexLog(v)
		}
	})
}

func (s *buildkitStream) vertex(b []byte) {
	var digest, name, errMsg string
	var cached, started, completed bool
	eachField(b, func(num protowire.Number, v []byte) {
		switch num {
		case 1:
			digest = string(v)
		case 3:
			name = string(v)
		case 4:
			cached = len(v) > 0 && v[0] != 0
		case 5:
			started = true
		case 6:
			completed = true
		case 7:
			errMsg = string(v)
		}
	})
	vx := s.get(digest)
	if name != "" {
		vx.name = name
	}
	if (started || cached) && !vx.announced && !internalVertex(vx.name) {
		vx.announced = true
		s.log(vx.name)
		if strings.HasPrefix(vx.name, "[") {
			// "[2/3] RUN make" -> "2/3 : RUN make", the classic builder's form.
			if end := strings.Index(vx.name, "] "); end > 0 {
				s.step = strings.TrimPrefix(vx.name[:end], "[") + " : " + vx.name[end+2:]
			}
		}
	}
	if completed && !vx.closed {
		vx.closed = true
		if vx.lines != nil {
			vx.lines.Flush()
			vx.lines = nil
		}
		switch {
		case errMsg != "":
			s.log("ERROR: " + errMsg)
		case cached && vx.announced:
			s.log("CACHED")
		}
	}
}

// internalVertex reports whether a vertex is BuildKit's own work, not a
// step the user wrote: "[internal] load ...", and the "copy /context /"
// that unpacks the context farm sends.
func internalVertex(name string) bool {
	return strings.HasPrefix(name, "[internal]") || name == "copy /context /"
}

func (s *buildkitStream) vertexLog(b []byte) {
	var digest string
	var msg []byte
	eachField(b, func(num protowire.Number, v []byte) {
		switch num {
		case 1:
			digest = string(v)
		case 4:
			msg = v
		}
	})
	vx := s.get(digest)
	if vx.lines == nil {
		vx.lines = logline.NewSplitter(logline.MaxLine, s.raw)
	}
	_, _ = vx.lines.Write(msg)
}

func (s *buildkitStream) get(digest string) *bkVertex {
	vx, ok := s.vertexes[digest]
	if !ok {
		vx = &bkVertex{}
		s.vertexes[digest] = vx
	}
	return vx
}

// eachField calls fn for every field of a protobuf message, with the raw
// bytes of length-delimited fields and a one-byte 0/1 for varints (all
// farm needs of those are booleans and presence).
func eachField(b []byte, fn func(protowire.Number, []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			fn(num, v)
			b = b[m:]
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return
			}
			bit := byte(0)
			if v != 0 {
				bit = 1
			}
			fn(num, []byte{bit})
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return
			}
			b = b[m:]
		}
	}
}
