package records

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Another farm holding the database locked makes Open fail after the busy
// timeout; the database is not taken for damaged and stays where it is.
func TestLockedDatabaseIsNotSetAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "farm")
	r, _, err := Open(dir)
	must(t, err)
	must(t, r.Start(BuildRecord{ID: "kept", Started: time.Now()}))
	must(t, r.Close())

	defer func(d time.Duration) { busyTimeout = d }(busyTimeout)
	busyTimeout = 200 * time.Millisecond
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "builds.db"))
	must(t, err)
	defer other.Close()
	other.SetMaxOpenConns(1)
	_, err = other.Exec(`BEGIN EXCLUSIVE`)
	must(t, err)
	r, warning, err := Open(dir)
	if err == nil {
		r.Close()
		t.Fatalf("a locked database opened")
	}
	if !strings.Contains(err.Error(), "locked") || warning != "" {
		t.Errorf("error = %v, warning = %q", err, warning)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "builds.db.damaged-*")); len(aside) != 0 {
		t.Fatalf("a locked database was moved aside: %v", aside)
	}
	_, err = other.Exec(`COMMIT`)
	must(t, err)
	r, warning, err = Open(dir)
	must(t, err)
	defer r.Close()
	if _, err := r.Get("kept"); err != nil || warning != "" {
		t.Errorf("the records after the lock: %v, %q", err, warning)
	}
}
