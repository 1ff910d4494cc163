package records

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Outcome is how a build ended, as the records keep it.
type Outcome struct {
	// Result is "success", "failed" or "interrupted".
	Result string
	// ExitCode is farm's exit status.
	ExitCode int
	// Error is the build's error ("" on success).
	Error string
	// Index is the digest of the stored index, if any.
	Index string
	// Platforms are the platforms' outcomes; Result, Error and Log of each
	// are filled in by Finish from Error.
	Platforms []PlatformRecord
}

// RecordPlatform writes one platform's row of a running build as soon as
// that platform starts or ends, so that a build that never finishes still
// tells which images it left on which node. p.Result is kept if set, else
// it is "success" or "failed" from p.Error. Finish writes the final rows.
func (r *Records) RecordPlatform(id string, p PlatformRecord) error {
	if p.Result == "" {
		p.Result = platformResult(p)
	}
	if err := r.writePlatform(r.db.Exec, id, p); err != nil {
		return fmt.Errorf("recording platform %s of build %s: %w", p.Platform, id, err)
	}
	return nil
}

func platformResult(p PlatformRecord) string {
	if p.Error != "" {
		return "failed"
	}
	return "success"
}

// writePlatform inserts or replaces a platform's row through exec.
func (r *Records) writePlatform(exec func(string, ...any) (sql.Result, error), id string, p PlatformRecord) error {
	bases, _ := json.Marshal(p.BaseDigests)
	inter, _ := json.Marshal(p.Intermediate)
	_, err := exec(`INSERT OR REPLACE INTO platforms (build_id, platform, node, node_id, emulated, image_id, image_ref, digest,
			base_digests, seconds, attempts, result, error, log, intermediate, engine, engine_version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, p.Platform, p.Node, p.NodeID, p.Emulated, p.ImageID, p.ImageRef, p.Digest, string(bases), p.Seconds,
		p.Attempts, p.Result, p.Error, r.logPath(id, p.Platform), string(inter), p.Engine, p.EngineVersion)
	return err
}

// Finish records a build's outcome. Platforms recorded as running that
// the outcome does not mention take the build's result.
func (r *Records) Finish(id string, o Outcome) error {
	errText := strings.Join(strings.Fields(o.Error), " ")
	tx, err := r.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, p := range o.Platforms {
		p.Result = platformResult(p)
		if err := r.writePlatform(tx.Exec, id, p); err != nil {
			return err
		}
	}
	left := o.Result
	if left == "success" {
		left = "failed"
	}
	if _, err := tx.Exec(`UPDATE platforms SET result = ? WHERE build_id = ? AND result = 'running'`, left, id); err != nil {
		return err
	}
	if _, err := tx.Exec(`UPDATE builds SET finished = ?, result = ?, exit_code = ?, error = ?, index_digest = ? WHERE id = ?`,
		time.Now().UnixMilli(), o.Result, o.ExitCode, errText, o.Index, id); err != nil {
		return err
	}
	r.mu.Lock()
	for key, f := range r.logs {
		if strings.HasPrefix(key, id+" ") {
			f.Close()
			delete(r.logs, key)
		}
	}
	r.mu.Unlock()
	return tx.Commit()
}
