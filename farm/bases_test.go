package farm

import (
	"context"
	"testing"

	"github.com/farmbuild/farm/containerfile"
)

// inspectingBuilder knows the digest of one base image.
type inspectingBuilder struct{ fakeBuilder }

func (*inspectingBuilder) BaseDigest(_ context.Context, ref string) (string, error) {
	if ref == "docker.io/library/alpine:3" {
		return "sha256:aa", nil
	}
	return "", nil
}

// Every FROM image is named for each built platform, with its digest as
// the node holds it where its engine can tell.
func TestRecordBases(t *testing.T) {
	cf := containerfile.Parse([]byte("FROM docker.io/library/alpine:3 AS a\nFROM docker.io/library/golang:1\nFROM docker.io/library/alpine:3\n"), nil)
	knows := &Node{Name: "k", Builder: &inspectingBuilder{}}
	cannot := &Node{Name: "c", Builder: &fakeBuilder{}}
	d := &dispatcher{jobs: []PlatformResult{{ImageID: "1"}, {ImageID: "2"}, {}}, built: []*Node{knows, cannot, nil}}
	recordBases(context.Background(), d, cf)
	if b := d.jobs[0].Bases; len(b) != 2 || b["docker.io/library/alpine:3"] != "sha256:aa" || b["docker.io/library/golang:1"] != "" {
		t.Errorf("a node that knows: %v", b)
	}
	if b := d.jobs[1].Bases; len(b) != 2 || b["docker.io/library/alpine:3"] != "" {
		t.Errorf("a node that cannot tell names the bases as unknown: %v", b)
	}
	if d.jobs[2].Bases != nil {
		t.Errorf("a platform not built has no bases: %v", d.jobs[2].Bases)
	}
}
