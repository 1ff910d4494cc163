// Package records keeps farm's build history: who built what where, how
// each platform ended and its complete log. The records own their row
// types; the caller says where they live.
package records

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a statement waits for another farm process's
// lock on the database before it fails (a variable for the tests).
var busyTimeout = 5 * time.Second

// errIntegrity means SQLite's own check found the database damaged.
var errIntegrity = errors.New("integrity check failed")

// Records is farm's build history: an embedded SQLite database (pure Go)
// and one complete log file per platform, in the directory the caller
// gives (farm uses $XDG_STATE_HOME/farm). Recording never makes a build
// fail.
type Records struct {
	db  *sql.DB
	dir string
	mu  sync.Mutex
	// logs are the open log files of builds in progress.
	logs map[string]*os.File
}

// BuildRecord is one recorded build.
type BuildRecord struct {
	ID       string    `json:"id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	User     string    `json:"user"`
	Args     []string  `json:"args"`
	Farm     string    `json:"farm"`
	// Output is where the result went: "push", "oci" or "local".
	Output    string           `json:"output,omitempty"`
	Result    string           `json:"result"` // running, success, failed, interrupted
	ExitCode  int              `json:"exitCode"`
	Error     string           `json:"error,omitempty"`
	Index     string           `json:"index,omitempty"`
	Platforms []PlatformRecord `json:"platforms,omitempty"`
}

// PlatformRecord is one platform of a recorded build.
type PlatformRecord struct {
	Platform    string            `json:"platform"`
	Node        string            `json:"node"`
	Emulated    bool              `json:"emulated"`
	ImageID     string            `json:"imageID,omitempty"`
	Digest      string            `json:"digest,omitempty"`
	BaseDigests map[string]string `json:"baseDigests,omitempty"`
	Seconds     float64           `json:"durationSeconds"`
	Attempts    int               `json:"attempts"`
	Result      string            `json:"result"`
	Error       string            `json:"error,omitempty"`
	Log         string            `json:"log"`
	// Intermediate are the layer images the build created on the node.
	Intermediate []string `json:"intermediate,omitempty"`
}

const recordsSchema = `
CREATE TABLE IF NOT EXISTS builds (
  id TEXT PRIMARY KEY, started INTEGER NOT NULL, finished INTEGER, user TEXT, args TEXT,
  farm TEXT, result TEXT NOT NULL, exit_code INTEGER, error TEXT, index_digest TEXT);
CREATE TABLE IF NOT EXISTS platforms (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE, platform TEXT NOT NULL,
  node TEXT, emulated INTEGER, image_id TEXT, digest TEXT, base_digests TEXT, seconds REAL,
  attempts INTEGER, result TEXT, error TEXT, log TEXT, intermediate TEXT, PRIMARY KEY (build_id, platform));`

// Open opens (or creates) the records in dir (builds.db and logs/). A
// damaged database is moved aside, not emptied, and reported through the
// returned warning; a database another farm holds locked for longer than
// the busy timeout is an error, never damage.
func Open(dir string) (*Records, string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "builds.db")
	r, err := openDB(path)
	if err == nil {
		r.dir = dir
		return r, "", nil
	}
	if !damaged(err) {
		return nil, "", fmt.Errorf("opening the build records %s: %w", path, err)
	}
	aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405")
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, "", fmt.Errorf("build records %s are damaged (%v) and could not be moved aside: %w", path, err, rerr)
	}
	warning := fmt.Sprintf("build records %s were damaged (%v): moved aside to %s, starting new ones", path, err, aside)
	r, err = openDB(path)
	if err != nil {
		return nil, warning, err
	}
	r.dir = dir
	return r, warning, nil
}

// damaged reports whether err says the file is not a sound SQLite
// database, as opposed to locked, unreadable or out of space.
func damaged(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
	}
	return errors.Is(err, errIntegrity)
}

func openDB(path string) (*Records, error) {
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", path, busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(recordsSchema); err != nil {
		db.Close()
		return nil, err
	}
	// Records from before intermediate layers and outputs were kept lack
	// their columns.
	for _, add := range []string{`ALTER TABLE platforms ADD COLUMN intermediate TEXT`, `ALTER TABLE builds ADD COLUMN output TEXT`} {
		if _, err := db.Exec(add); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			db.Close()
			return nil, err
		}
	}
	var ok string
	if err := db.QueryRow("PRAGMA quick_check").Scan(&ok); err != nil || ok != "ok" {
		db.Close()
		if err == nil {
			err = fmt.Errorf("%w: %s", errIntegrity, ok)
		}
		return nil, fmt.Errorf("integrity check: %w", err)
	}
	return &Records{db: db, logs: map[string]*os.File{}}, nil
}

// Close closes the database and any open log.
func (r *Records) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.logs {
		f.Close()
	}
	return r.db.Close()
}

// Start records a build that begins.
func (r *Records) Start(b BuildRecord) error {
	args, _ := json.Marshal(b.Args)
	_, err := r.db.Exec(`INSERT INTO builds (id, started, user, args, farm, output, result) VALUES (?, ?, ?, ?, ?, ?, 'running')`,
		b.ID, b.Started.UnixMilli(), b.User, string(args), b.Farm, b.Output)
	return err
}

// logPath is the log file of one platform of a build.
func (r *Records) logPath(id, platform string) string {
	return filepath.Join(r.dir, "logs", id, strings.ReplaceAll(platform, "/", "-")+".log")
}

// Log appends a line to a platform's log file.
func (r *Records) Log(id, platform, line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := id + " " + platform
	f, ok := r.logs[key]
	if !ok {
		path := r.logPath(id, platform)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		var err error
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			return err
		}
		r.logs[key] = f
	}
	_, err := f.WriteString(line + "\n")
	return err
}

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

// Finish records a build's outcome.
func (r *Records) Finish(id string, o Outcome) error {
	errText := strings.Join(strings.Fields(o.Error), " ")
	tx, err := r.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, p := range o.Platforms {
		pr := "success"
		if p.Error != "" {
			pr = "failed"
		}
		bases, _ := json.Marshal(p.BaseDigests)
		inter, _ := json.Marshal(p.Intermediate)
		if _, err := tx.Exec(`INSERT OR REPLACE INTO platforms (build_id, platform, node, emulated, image_id, digest, base_digests, seconds, attempts, result, error, log, intermediate)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, p.Platform, p.Node, p.Emulated, p.ImageID, p.Digest, string(bases), p.Seconds,
			p.Attempts, pr, p.Error, r.logPath(id, p.Platform), string(inter)); err != nil {
			return err
		}
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
