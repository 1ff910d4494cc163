package farm

import (
	"context"
	"time"

	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/engine"
)

// baseLookupTimeout bounds asking the nodes which base images they used.
const baseLookupTimeout = 30 * time.Second

// recordBases fills, for each platform built without --pin-base, every
// FROM image with its digest as the node that built it holds it, where
// its engine says (engine.BaseInspector), else "" (unknown). Nothing
// fails a build here.
func recordBases(ctx context.Context, d *dispatcher, cf containerfile.File) {
	if len(cf.Froms) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), baseLookupTimeout)
	defer cancel()
	for i := range d.jobs {
		n := d.built[i]
		if n == nil || d.jobs[i].ImageID == "" || d.jobs[i].Bases != nil {
			continue
		}
		inspector, _ := n.Builder.(engine.BaseInspector)
		d.jobs[i].Bases = map[string]string{}
		for _, f := range cf.Froms {
			if _, done := d.jobs[i].Bases[f.Image]; done {
				continue
			}
			digest := ""
			if inspector != nil {
				digest, _ = inspector.BaseDigest(ctx, f.Image)
			}
			d.jobs[i].Bases[f.Image] = digest
		}
	}
}
