package records

import (
	"database/sql"
	"fmt"
	"time"
)

// NodeFact is what farm last learned about a node: the facts it opened
// it for, kept per connection name and node identity so that a build can
// plan without contacting every node.
type NodeFact struct {
	// Name is the connection's name.
	Name string `json:"name"`
	// Identity is the node's host key fingerprint and socket; empty when
	// the node was never reached.
	Identity string `json:"identity"`
	// URI is the connection's URI when the facts were seen.
	URI string `json:"uri"`
	// Facts are the caller's facts, as JSON: the records do not read them.
	Facts string `json:"facts"`
	// Seen is when the facts were learned; zero when never.
	Seen time.Time `json:"seen,omitzero"`
	// LastFailure is when the node last could not be opened; zero when never.
	LastFailure time.Time `json:"lastFailure,omitzero"`
}

// nodeFactsSchema is created on first use: records of older farms lack it.
const nodeFactsSchema = `
CREATE TABLE IF NOT EXISTS node_facts (
  name TEXT NOT NULL, identity TEXT NOT NULL, uri TEXT, facts TEXT, seen INTEGER, last_failure INTEGER,
  PRIMARY KEY (name, identity));`

func (r *Records) nodeFactsTable() error {
	if _, err := r.db.Exec(nodeFactsSchema); err != nil {
		return fmt.Errorf("creating the node_facts table: %w", err)
	}
	return nil
}

// SaveNodeFact keeps what was learned about a node, replacing what was
// known of the same name and identity.
func (r *Records) SaveNodeFact(f NodeFact) error {
	if err := r.nodeFactsTable(); err != nil {
		return err
	}
	_, err := r.db.Exec(`INSERT INTO node_facts (name, identity, uri, facts, seen, last_failure) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name, identity) DO UPDATE SET uri = excluded.uri, facts = excluded.facts, seen = excluded.seen`,
		f.Name, f.Identity, f.URI, f.Facts, unixNano(f.Seen), unixNano(f.LastFailure))
	if err != nil {
		return fmt.Errorf("saving the facts of node %s: %w", f.Name, err)
	}
	return nil
}

// NodeFailed records that the connection name, of uri, could not be
// opened at t.
func (r *Records) NodeFailed(name, uri string, t time.Time) error {
	if err := r.nodeFactsTable(); err != nil {
		return err
	}
	res, err := r.db.Exec(`UPDATE node_facts SET last_failure = ? WHERE name = ?`, t.UnixNano(), name)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			_, err = r.db.Exec(`INSERT INTO node_facts (name, identity, uri, last_failure) VALUES (?, '', ?, ?)`, name, uri, t.UnixNano())
		}
	}
	if err != nil {
		return fmt.Errorf("recording the failure of node %s: %w", name, err)
	}
	return nil
}

// NodeFacts returns, per connection name, the newest facts known and the
// last failure of any of its identities.
func (r *Records) NodeFacts() (map[string]NodeFact, error) {
	if err := r.nodeFactsTable(); err != nil {
		return nil, err
	}
	rows, err := r.db.Query(`SELECT name, identity, uri, facts, seen, last_failure FROM node_facts ORDER BY name, seen`)
	if err != nil {
		return nil, fmt.Errorf("reading the node facts: %w", err)
	}
	defer rows.Close()
	out := map[string]NodeFact{}
	for rows.Next() {
		var f NodeFact
		var uri, facts sql.NullString
		var seen, failed sql.NullInt64
		if err := rows.Scan(&f.Name, &f.Identity, &uri, &facts, &seen, &failed); err != nil {
			return nil, fmt.Errorf("reading the node facts: %w", err)
		}
		f.URI, f.Facts, f.Seen, f.LastFailure = uri.String, facts.String, fromNano(seen), fromNano(failed)
		prev := out[f.Name]
		if prev.LastFailure.After(f.LastFailure) {
			f.LastFailure = prev.LastFailure
		}
		if f.Seen.IsZero() && !prev.Seen.IsZero() {
			prev.LastFailure = f.LastFailure
			f = prev
		}
		out[f.Name] = f
	}
	return out, rows.Err()
}

func unixNano(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNano(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == 0 {
		return time.Time{}
	}
	return time.Unix(0, n.Int64)
}
