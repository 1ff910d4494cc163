package records

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// Node facts survive a reopen; the newest identity of a name wins and a
// failure is kept with it. Records made before the table existed get it.
func TestNodeFactsRoundTripAndMigration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "farm")
	r, _, err := Open(dir)
	must(t, err)
	must(t, r.Close())
	// An older farm's records: no node_facts table.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "builds.db"))
	must(t, err)
	if _, err := db.Exec(`DROP TABLE IF EXISTS node_facts`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	r, _, err = Open(dir)
	must(t, err)
	old := time.Unix(1000, 0)
	seen := time.Unix(2000, 5)
	failed := time.Unix(3000, 0)
	must(t, r.SaveNodeFact(NodeFact{Name: "p1", Identity: "SHA256:old:/run/podman.sock", URI: "ssh://a", Facts: `{"kind":"podman"}`, Seen: old}))
	must(t, r.SaveNodeFact(NodeFact{Name: "p1", Identity: "SHA256:new:/run/podman.sock", URI: "ssh://b", Facts: `{"kind":"docker"}`, Seen: seen}))
	must(t, r.NodeFailed("p1", "ssh://p1", failed))
	must(t, r.NodeFailed("gone", "ssh://gone", failed))
	must(t, r.Close())

	r, _, err = Open(dir)
	must(t, err)
	defer r.Close()
	got, err := r.NodeFacts()
	must(t, err)
	p1 := got["p1"]
	if p1.Identity != "SHA256:new:/run/podman.sock" || p1.URI != "ssh://b" || p1.Facts != `{"kind":"docker"}` || !p1.Seen.Equal(seen) || !p1.LastFailure.Equal(failed) {
		t.Errorf("p1 = %+v", p1)
	}
	if g := got["gone"]; !g.Seen.IsZero() || !g.LastFailure.Equal(failed) || g.Identity != "" || g.URI != "ssh://gone" {
		t.Errorf("gone = %+v", g)
	}
	if len(got) != 2 {
		t.Errorf("got %d names: %v", len(got), got)
	}
}
