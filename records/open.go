package records

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeout is how long a statement waits for another farm process's
// lock on the database before it fails (a variable for the tests).
var busyTimeout = 5 * time.Second

// errIntegrity means SQLite's own check found the database damaged.
var errIntegrity = errors.New("integrity check failed")

// Option changes how Open opens the records.
type Option func(*Records)

// WithOwnerCheck replaces how the records tell whether the process running
// a build still runs (default: OwnerAlive). alive returns an error when it
// cannot tell; such builds are left running.
func WithOwnerCheck(alive func(Owner) (bool, error)) Option {
	return func(r *Records) { r.alive = alive }
}

// Open opens (or creates) the records in dir (builds.db and logs/). A
// damaged database is moved aside, not emptied, and reported through the
// returned warning; a database another farm holds locked for longer than
// the busy timeout is an error, never damage.
func Open(dir string, opts ...Option) (*Records, string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "builds.db")
	r, err := openDB(path)
	warning := ""
	if err != nil {
		if !damaged(err) {
			return nil, "", fmt.Errorf("opening the build records %s: %w", path, err)
		}
		aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, "", fmt.Errorf("build records %s are damaged (%v) and could not be moved aside: %w", path, err, rerr)
		}
		warning = fmt.Sprintf("build records %s were damaged (%v): moved aside to %s, starting new ones", path, err, aside)
		if r, err = openDB(path); err != nil {
			return nil, warning, err
		}
	}
	r.dir, r.alive = dir, OwnerAlive
	for _, o := range opts {
		o(r)
	}
	if err := r.scrubArgs(); err != nil {
		warning = joinWarnings(warning, fmt.Sprintf("could not remove build-argument values from older build records (will try again): %v", err))
	}
	return r, warning, nil
}

func joinWarnings(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
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

const recordsSchema = `
CREATE TABLE IF NOT EXISTS builds (
  id TEXT PRIMARY KEY, started INTEGER NOT NULL, finished INTEGER, user TEXT, args TEXT,
  farm TEXT, result TEXT NOT NULL, exit_code INTEGER, error TEXT, index_digest TEXT);
CREATE TABLE IF NOT EXISTS platforms (
  build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE, platform TEXT NOT NULL,
  node TEXT, emulated INTEGER, image_id TEXT, digest TEXT, base_digests TEXT, seconds REAL,
  attempts INTEGER, result TEXT, error TEXT, log TEXT, PRIMARY KEY (build_id, platform));`

// addedColumns are the columns records made by older farms lack.
var addedColumns = []struct{ table, column, decl string }{
	{"platforms", "intermediate", "TEXT"},
	{"builds", "output", "TEXT"},
	{"builds", "owner_pid", "INTEGER"},
	{"builds", "owner_start", "INTEGER"},
	{"builds", "owner_host", "TEXT"},
	{"platforms", "node_id", "TEXT"},
	{"platforms", "image_ref", "TEXT"},
	{"platforms", "engine", "TEXT"},
	{"platforms", "engine_version", "TEXT"},
	{"builds", "bake_id", "TEXT"},
	{"builds", "target", "TEXT"},
}

func openDB(path string) (*Records, error) {
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", path, busyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := prepareDB(db); err != nil {
		db.Close()
		return nil, err
	}
	return &Records{db: db, logs: map[string]*os.File{}}, nil
}

// prepareDB creates the tables, adds the columns older records lack and
// checks the database.
func prepareDB(db *sql.DB) error {
	if _, err := db.Exec(recordsSchema); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, table := range []string{"builds", "platforms"} {
		rows, err := db.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return err
			}
			have[table+"."+name] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, c := range addedColumns {
		if have[c.table+"."+c.column] {
			continue
		}
		_, err := db.Exec(`ALTER TABLE ` + c.table + ` ADD COLUMN ` + c.column + ` ` + c.decl)
		if err != nil && !strings.Contains(err.Error(), "duplicate column") { // another farm added it meanwhile
			return fmt.Errorf("adding column %s.%s: %w", c.table, c.column, err)
		}
	}
	var ok string
	if err := db.QueryRow("PRAGMA quick_check").Scan(&ok); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if ok != "ok" {
		return fmt.Errorf("%w: %s", errIntegrity, ok)
	}
	return nil
}
