package cmd

import (
	"encoding/json"
	"fmt"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/farmbuild/farm/farm"
	"github.com/farmbuild/farm/platform"
	"github.com/farmbuild/farm/records"
)

// knownNodes loads what the records know of the nodes, for a build to
// plan without contacting every node. No records means nothing known.
func knownNodes(ro *rootOptions) map[string]farm.KnownNode {
	rec, warning, err := openRecordsIn()
	if warning != "" {
		ro.logger.Warn(warning)
	}
	if err != nil {
		return nil
	}
	defer rec.Close()
	facts, err := rec.NodeFacts()
	if err != nil {
		ro.logger.Warn("the known node facts cannot be read: every node is contacted", "error", err)
		return nil
	}
	out := make(map[string]farm.KnownNode, len(facts))
	for name, f := range facts {
		k := farm.KnownNode{URI: f.URI, Identity: f.Identity, Seen: f.Seen, LastFailure: f.LastFailure}
		if f.Facts != "" && json.Unmarshal([]byte(f.Facts), &k.Facts) != nil {
			k.Seen = time.Time{} // unreadable: as if never seen
		}
		out[name] = k
	}
	return out
}

// saveNodeFacts keeps what a build, a plan or farm status learned of the
// nodes it contacted. Failing to keep them costs only speed later.
func saveNodeFacts(ro *rootOptions, nodes []farm.ObservedNode) {
	if len(nodes) == 0 {
		return
	}
	rec, warning, err := openRecordsIn()
	if warning != "" {
		ro.logger.Warn(warning)
	}
	if err != nil {
		ro.logger.Warn("the node facts cannot be kept", "error", err)
		return
	}
	defer rec.Close()
	for _, n := range nodes {
		if !n.Failed.IsZero() {
			err = rec.NodeFailed(n.Name, n.URI, n.Failed)
		} else {
			data, _ := json.Marshal(n.Facts)
			err = rec.SaveNodeFact(records.NodeFact{Name: n.Name, Identity: n.Identity, URI: n.URI, Facts: string(data), Seen: n.Seen})
		}
		if err != nil {
			ro.logger.Warn("the node facts cannot be kept", "node", n.Name, "error", err)
		}
	}
}

// factsAge says how old facts seen at t are, for people.
func factsAge(t, now time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	d := now.Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	default:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
}

// statusFacts turns what farm status saw into facts to keep. A status
// does not carry the node's identity: the next build that opens the node
// learns it.
func statusFacts(nodes []farm.NodeStatus, uris map[string]string, now time.Time) []farm.ObservedNode {
	var out []farm.ObservedNode
	for _, s := range nodes {
		o := farm.ObservedNode{Name: s.Name, URI: uris[s.Name]}
		if !s.Reachable {
			o.Failed, o.Error = now, s.Error
			out = append(out, o)
			continue
		}
		native, err := platform.Parse(s.Native)
		if err != nil {
			continue
		}
		o.Seen = now
		o.Facts = farm.NodeFacts{Kind: s.Kind, Version: s.Version, Native: native, EmulationSource: s.EmulationSource,
			CPUs: s.CPUs, MemoryBytes: s.MemoryBytes, StorageRoot: s.StorageRoot}
		o.Facts.Compatible, _ = parsePlatforms(s.Compatible)
		o.Facts.Emulated, _ = parsePlatforms(s.Emulated)
		out = append(out, o)
	}
	return out
}

func parsePlatforms(list []string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	for _, s := range list {
		p, err := platform.Parse(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
