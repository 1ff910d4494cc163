package farm

import (
	"context"
	"time"

	"github.com/farmbuild/farm/containerfile"
	"github.com/farmbuild/farm/engine"
)

// baseLookupTimeout bounds asking the nodes which base images they used.
const baseLookupTimeout = 30 * time.Second

// recordBases fills, for each platform built without --pin-base, the
// digest of every FROM image as the node that built it holds it, where
// its engine says (engine.BaseInspector). Nothing fails a build here.
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
		inspector, ok := n.Builder.(engine.BaseInspector)
		if !ok {
			continue
		}
		for _, f := range cf.Froms {
			digest, err := inspector.BaseDigest(ctx, f.Image)
			if err != nil || digest == "" {
				continue
			}
			if d.jobs[i].Bases == nil {
				d.jobs[i].Bases = map[string]string{}
			}
			d.jobs[i].Bases[f.Image] = digest
		}
	}
}
